/**
 * A replay's shared chunks are of one history: a read that a remote store answers after the
 * stream was created again (its epoch changed while the replay waited) is neither shared with the
 * new history's replays nor written under the new epoch's ids.
 * @module
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../../core/relay/memory_store.ts";
import { Hub } from "../../../core/relay/hub.ts";
import { messageFrame, openSubscription, ReplayChunks } from "../../../core/relay/replay.ts";
import type { RelayLog, StoredEvent } from "../../../core/relay/store.ts";
import { SseSubscriber } from "../../../core/relay/stream/mod.ts";
import { TopicFilter } from "../../../core/topic/mod.ts";

const dec = new TextDecoder();

/**
 * A remote store's history as a replay sees it: reads answered later (fetched), and the stream
 * created again while one waits (`recreate`: the epoch and the history change meanwhile).
 */
class Recreated implements RelayLog {
  #recreate: (() => void) | undefined;
  constructor(public current: MemoryStore, private readonly next: MemoryStore) {
    this.#recreate = () => this.current = this.next;
  }
  get epoch(): string {
    return this.current.epoch;
  }
  get lastSeq(): number {
    return this.current.lastSeq;
  }
  read(filter: TopicFilter, after: number, upto: number, limit: number) {
    const events = this.current.read(filter, after, upto, limit);
    const recreate = this.#recreate;
    if (!recreate) return events;
    this.#recreate = undefined;
    // Fetched while the stream was created again: the answer is of the history asked.
    return Promise.resolve().then((): StoredEvent[] => (recreate(), events));
  }
  truncatedAfter(filter: TopicFilter, after: number) {
    return this.current.truncatedAfter(filter, after);
  }
  truncation(filter: TopicFilter) {
    return this.current.truncation(filter);
  }
  oldestSeq(filter: TopicFilter) {
    return this.current.oldestSeq(filter);
  }
  topics() {
    return this.current.topics();
  }
  freed() {
    return this.current.freed();
  }
  expire(now: number) {
    return this.current.expire(now);
  }
  close() {}
}

function filled(what: string): MemoryStore {
  const s = new MemoryStore({ maxEventsPerTopic: 1_000, maxAgeMs: 0, maxTopics: 10 });
  for (let i = 0; i < 8; i++) {
    s.append("t", crypto.randomUUID(), JSON.stringify({ what, i }), Date.now());
  }
  return s;
}

Deno.test("a replay whose read outlived its history's epoch shares nothing with the new history's replays", async () => {
  const old = filled("old history");
  const fresh = filled("new history");
  const store = new Recreated(old, fresh);
  const hub = new Hub();
  const shared = new ReplayChunks();
  const filter = new TopicFilter(["t"]);
  /** A replay into a sink that keeps every chunk (a connection still holding them). */
  const replay = async () => {
    const got: Uint8Array[] = [];
    const stream = new SseSubscriber({ queueBytes: 256 * 1024 });
    stream.open({ write: (c) => (got.push(c), true), backlog: 0, end: () => {} });
    await openSubscription({
      store,
      hub,
      filter,
      stream,
      start: { kind: "all" },
      retryMs: 1_000,
      shared,
    });
    hub.remove(stream);
    stream.end("client");
    return got.map((c) => dec.decode(c)).join("");
  };
  const first = await replay();
  // Whatever the first replay wrote, no event of the old history under the new epoch's ids.
  assert.ok(!first.includes(`id: ${fresh.epoch}-`), first);
  // A replay of the new history gets the new history's events, every one.
  const second = await replay();
  const expected = fresh.read(filter, 0, fresh.lastSeq, 100)
    .map((e) => dec.decode(messageFrame(fresh.epoch, e))).join("");
  assert.equal(second.slice(second.indexOf("id: ")), expected);
});
