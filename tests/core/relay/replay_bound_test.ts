/**
 * A replay to subscribers that never read holds what their `queue_bytes` allows: the events a
 * replay reads from the store at once, and the chunks it writes, stay near a quarter of the
 * queue however large the retained events are (it read 256 per batch: 64 MiB of 256 KiB events
 * per subscriber, and 500 stalled subscribers of a topic holding 24 MB took a relay past 3 GB).
 * @module
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../../core/relay/memory_store.ts";
import type { TopicFilter } from "../../../core/topic/mod.ts";
import { waitFor } from "../../helpers.ts";
import { RawConn } from "../../support/raw_http.ts";
import { openStalled, startHistoryRelay } from "./relay_helpers.ts";

/** A memory store that records the bytes of data each read returned. */
class RecordingStore extends MemoryStore {
  readonly reads: number[] = [];
  override read(filter: TopicFilter, afterSeq: number, uptoSeq: number, limit: number) {
    const events = super.read(filter, afterSeq, uptoSeq, limit);
    this.reads.push(events.reduce((n, e) => n + e.data.length, 0));
    return events;
  }
}

const QUEUE_BYTES = 1024 * 1024;
const EVENT_BYTES = 60_000;

Deno.test("a replay of large events to subscribers that never read reads and writes a quarter of their queue at a time", async () => {
  const store = new RecordingStore({ maxEventsPerTopic: 1000, maxAgeMs: 0, maxTopics: 10 });
  const relay = await startHistoryRelay(store, 300, EVENT_BYTES, { queueBytes: QUEUE_BYTES });
  const port = Number(new URL(relay.url).port);
  const stalled: RawConn[] = [];
  try {
    // Never read: each replay waits for room in its queue.
    await openStalled(port, 4, stalled);
    // Each replay read until its queue filled and its socket stopped taking writes.
    await waitFor(() => store.reads.length >= 4, 10_000, "the replays to read");
    const most = Math.max(...store.reads);
    // A quarter of the queue, give or take one event (the first read takes 4 events).
    assert.ok(
      most <= Math.max(QUEUE_BYTES / 4 + EVENT_BYTES, 4 * (EVENT_BYTES + 20)),
      `a replay read ${most} bytes of events at once`,
    );
    // A reader that reads gets every event, in order.
    const reader = await RawConn.open(port);
    await reader.write("GET /subscribe?topic=big&since=0 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert.ok(
      await reader.until((p) => p.includes(`id: ${store.epoch}-300\n`), 30_000),
      "the whole history reached a reader",
    );
    const ids = [...reader.pending.matchAll(/\nid: [^-\n]+-(\d+)\n/g)].map((m) => Number(m[1]));
    assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => ids[0] + i));
    reader.close();
  } finally {
    for (const c of stalled) c.close();
    await relay.close();
  }
});
