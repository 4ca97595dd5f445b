/**
 * The sequencing isolate's fan-out to worker isolates over real message ports: what a worker has
 * not taken is counted in bytes; past `backlog_bytes` publishes are refused with 503 and
 * Retry-After, and accepted again once the worker takes its batches.
 */
import assert from "node:assert/strict";
import { Channel } from "../../../core/cluster/mod.ts";
import { UnavailableError } from "../../../core/errors/mod.ts";
import { Broadcast, TAKEN } from "../../../core/relay/broadcast.ts";
import { decodeEvents } from "../../../core/relay/isolate_wire.ts";
import { StreamIndex } from "../../../core/relay/js_index.ts";
import type { TailedEvent } from "../../../core/relay/js_wire.ts";
import type { StoredEvent } from "../../../core/relay/store.ts";

let seq = 0;
const event = (topic: string, bytes: number): StoredEvent => ({
  seq: ++seq,
  topic,
  data: "x".repeat(bytes),
  tsMs: 1,
});

/** Resolves once `test()` holds, checking after each turn of the event loop. */
async function until(test: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !test(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(test(), "condition never held");
}

Deno.test("a worker that does not take its events holds publishes back past the bound, then lets them through", async () => {
  const { port1, port2 } = new MessageChannel();
  port1.start();
  port2.start();
  const main = new Channel(port1);
  const worker = new Channel(port2);
  const b = new Broadcast([{ topic: "jobs", lastSeq: 0 }], 4_096, 1 << 20);
  main.on(TAKEN, () => b.taken(main));
  const got: TailedEvent[][] = [];
  worker.on("events", (batch) => got.push(decodeEvents(batch as string)));
  try {
    b.join(main);
    b.add(event("jobs", 1_000));
    b.add(event("jobs", 1_000));
    await until(() => got.length === 1);
    assert.deepEqual(got[0].map((t) => [t.event.seq, t.prev]), [[seq - 1, 0], [seq, seq - 1]]);
    b.admit(); // 2 events of about 1.1 KB: under 4 KiB
    b.add(event("jobs", 3_000));
    await until(() => got.length === 2);
    assert.ok(b.behind > 4_096, String(b.behind));
    assert.throws(() => b.admit(), (err) => {
      assert.ok(err instanceof UnavailableError);
      assert.equal(err.retryAfterSeconds, 1);
      assert.match(err.message, /backlog_bytes/);
      return true;
    });
    worker.post(TAKEN); // the first batch
    await until(() => b.behind < 4_096);
    b.admit();
    worker.post(TAKEN);
    await until(() => b.behind === 0);
    assert.equal(got.flat().length, 3, "every event sent once, in order");
  } finally {
    port1.close();
    port2.close();
  }
});

Deno.test("a worker that left holds nothing back; no worker, nothing is counted", async () => {
  const { port1, port2 } = new MessageChannel();
  port1.start();
  port2.start();
  const main = new Channel(port1);
  const b = new Broadcast([], 1_024, 1 << 20);
  try {
    b.add(event("a", 5_000)); // no worker yet
    await Promise.resolve();
    assert.equal(b.behind, 0);
    b.join(main);
    b.add(event("a", 5_000));
    await until(() => b.behind > 1_024);
    assert.throws(() => b.admit(), UnavailableError);
    b.leave(main);
    b.admit();
    b.taken(main); // a late answer from a worker that left changes nothing
    assert.equal(b.behind, 0);
  } finally {
    port1.close();
    port2.close();
  }
});

Deno.test("a batch that reaches its byte bound is sent at once; the rest of the tick follows in order", async () => {
  const { port1, port2 } = new MessageChannel();
  port1.start();
  port2.start();
  const main = new Channel(port1);
  const worker = new Channel(port2);
  const b = new Broadcast([], 1 << 20, 2_000);
  const got: TailedEvent[][] = [];
  worker.on("events", (batch) => got.push(decodeEvents(batch as string)));
  try {
    b.join(main);
    const first = seq + 1;
    for (let i = 0; i < 5; i++) b.add(event("big", 700)); // about 830 bytes counted each
    await until(() => got.flat().length === 5);
    assert.deepEqual(got.map((batch) => batch.length), [2, 2, 1]);
    assert.deepEqual(got.flat().map((t) => t.event.seq), [0, 1, 2, 3, 4].map((i) => first + i));
    assert.deepEqual(got.flat().map((t) => t.prev), [0, 1, 2, 3, 4].map((i) => i && first + i - 1));
    assert.equal(b.behind, 5 * (700 + 3 + 128), "both batches counted until taken");
  } finally {
    port1.close();
    port2.close();
  }
});

Deno.test("a batch of several events stays within its byte bound; a larger event leaves alone", async () => {
  // A worker's cached event keeps the batch it came in: the others in it are bounded by
  // max_payload_bytes, whatever sizes arrive in which order.
  const { port1, port2 } = new MessageChannel();
  port1.start();
  port2.start();
  const main = new Channel(port1);
  const worker = new Channel(port2);
  const limit = 2_000;
  const b = new Broadcast([], 1 << 20, limit);
  const got: TailedEvent[][] = [];
  worker.on("events", (batch) => got.push(decodeEvents(batch as string)));
  const counted = (t: TailedEvent) => t.event.data.length + t.event.topic.length + 128;
  try {
    b.join(main);
    const first = seq + 1;
    for (let i = 0; i < 10; i++) b.add(event("small", 100)); // 231 bytes counted each
    b.add(event("big", 1_900)); // 2031: more than the bound on its own
    b.add(event("small", 100));
    await until(() => got.flat().length === 12);
    assert.deepEqual(
      got.flat().map((t) => t.event.seq),
      [...Array(12).keys()].map((i) => first + i),
    );
    for (const batch of got) {
      if (batch.length === 1) continue;
      const bytes = batch.reduce((n, t) => n + counted(t), 0);
      assert.ok(bytes <= limit, `a batch of ${batch.length} events counts ${bytes} bytes`);
    }
    assert.deepEqual(got.map((batch) => batch.length), [8, 2, 1, 1]);
  } finally {
    port1.close();
    port2.close();
  }
});

Deno.test("events of a topic the store never read (it evicted them first) reach each worker as the same gap", async () => {
  const { port1, port2 } = new MessageChannel();
  port1.start();
  port2.start();
  const main = new Channel(port1);
  const worker = new Channel(port2);
  const b = new Broadcast([], 1 << 20, 1 << 20);
  const got: TailedEvent[] = [];
  worker.on("events", (batch) => got.push(...decodeEvents(batch as string)));
  try {
    b.join(main);
    const first = event("gap", 10);
    b.add(first);
    seq += 3; // three events of the topic left the store before its tail read them
    const after = event("gap", 10);
    b.add(after, after.seq - 1);
    const next = event("gap", 10);
    b.add(next);
    await until(() => got.length === 3);
    const index = new StreamIndex(
      { maxEventsPerTopic: 10, maxAgeMs: 0, maxTopics: 10, maxTopicsPerPrincipal: 10 },
      10,
    );
    const unread = got.map((t) => {
      const n = index.unreadThrough(t);
      index.apply(t);
      return n;
    });
    assert.deepEqual(unread, [0, after.seq - 1, 0], "the worker's index sees the gap before it");
  } finally {
    port1.close();
    port2.close();
  }
});
