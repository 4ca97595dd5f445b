/**
 * Replays encode their chunks straight from the stored events and share them between
 * subscribers replaying the same history: every subscriber still gets each event's frame exactly
 * as `messageFrame` makes it, in order, whatever its data holds (ASCII, text beyond it, events
 * larger than a chunk), and two replays of the same events write the very same chunks.
 * @module
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../../core/relay/memory_store.ts";
import { Hub } from "../../../core/relay/hub.ts";
import { messageFrame, openSubscription, ReplayChunks } from "../../../core/relay/replay.ts";
import { SseSubscriber } from "../../../core/relay/stream/mod.ts";
import { startRelayServer } from "../../../core/relay/server.ts";
import { RawConn } from "../../support/raw_http.ts";
import { TopicFilter } from "../../../core/topic/mod.ts";
import { quietLog } from "./relay_helpers.ts";

const QUEUE_BYTES = 64 * 1024;
/** One char per byte, as the raw socket's text holds them. */
function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** The SSE bytes of a chunked answer's body (the chunked coding taken off). */
function unchunk(raw: string): string {
  let rest = raw.slice(raw.indexOf("\r\n\r\n") + 4);
  let out = "";
  for (;;) {
    const eol = rest.indexOf("\r\n");
    if (eol < 0) return out;
    const size = parseInt(rest.slice(0, eol), 16);
    if (!(size > 0)) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

Deno.test("subscribers replaying the same history each get every event's frame as messageFrame makes it", async () => {
  const store = new MemoryStore({ maxEventsPerTopic: 10_000, maxAgeMs: 0, maxTopics: 10 });
  const payloads: unknown[] = [];
  for (let i = 0; i < 120; i++) {
    const kind = i % 4;
    payloads.push(
      kind === 0
        ? { i, s: "plain" }
        : kind === 1
        ? { i, s: "grüße 😀 ".repeat(50 + i) }
        : kind === 2
        ? { i, blob: "x".repeat(40_000) } // more than half a chunk: chunks of one event
        : { i, s: "line\nbreak\u2028sep" },
    );
  }
  for (const p of payloads) store.append("mix", crypto.randomUUID(), JSON.stringify(p), Date.now());
  const relay = await startRelayServer({
    host: "127.0.0.1",
    port: 0,
    log: quietLog,
    store,
    heartbeatMs: 60_000,
    retryMs: 1_000,
    expireIntervalMs: 60_000,
    compat: "iatp",
    queueBytes: QUEUE_BYTES,
  });
  const port = Number(new URL(relay.url).port);
  const expected = store.read(new TopicFilter(["mix"]), 0, store.lastSeq, 1_000).map((e) =>
    latin1(messageFrame(store.epoch, e))
  ).join("");
  const conns: RawConn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const c = await RawConn.open(port);
      await c.write("GET /subscribe?topic=mix&since=0 HTTP/1.1\r\nHost: localhost\r\n\r\n");
      conns.push(c);
    }
    for (const c of conns) {
      const whole = await c.until((p) => unchunk(p).includes(expected), 15_000);
      assert.ok(whole, `the replay: ${unchunk(c.pending).slice(0, 300)}`);
      const body = unchunk(c.pending);
      const events = body.slice(body.indexOf("id: "));
      assert.equal(events, expected);
    }
  } finally {
    for (const c of conns) c.close();
    await relay.close();
  }
});

Deno.test("replays of the same history write the same chunks, not a copy each", async () => {
  const store = new MemoryStore({ maxEventsPerTopic: 10_000, maxAgeMs: 0, maxTopics: 10 });
  const blob = "z".repeat(20_000);
  for (let i = 0; i < 40; i++) {
    store.append("big", crypto.randomUUID(), JSON.stringify({ i, blob }), Date.now());
  }
  const hub = new Hub();
  const shared = new ReplayChunks();
  /** A replay into a sink that takes every chunk at once; resolves the chunks it was given. */
  const replayed = async (): Promise<Uint8Array[]> => {
    const got: Uint8Array[] = [];
    const stream = new SseSubscriber({ queueBytes: 256 * 1024 });
    stream.open({
      write: (c) => (got.push(c), true),
      backlog: 0,
      end: () => {},
    });
    await openSubscription({
      store,
      hub,
      filter: new TopicFilter(["big"]),
      stream,
      start: { kind: "all" },
      retryMs: 1_000,
      shared,
    });
    stream.end("client");
    return got.slice(1); // the retry hint is each stream's own
  };
  const a = await replayed();
  const b = await replayed();
  assert.ok(a.length > 2, `${a.length} chunks`);
  assert.equal(b.length, a.length);
  for (let i = 0; i < a.length; i++) assert.ok(a[i] === b[i], `chunk ${i} is shared`);
  assert.equal(
    a.map((c) => latin1(c)).join(""),
    store.read(new TopicFilter(["big"]), 0, store.lastSeq, 100)
      .map((e) => latin1(messageFrame(store.epoch, e))).join(""),
  );
});
