/**
 * A subscriber cut off with `event: overflow` lets go of what it held at once: the frames it
 * held and those its socket queued behind the write in flight are dropped, the overflow event
 * follows that write, and the connection is closed once `overflow_wait` passes without its socket
 * taking them. A reader next to it keeps receiving every event.
 * @module
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../../core/relay/memory_store.ts";
import type { RelayServerOptions } from "../../../core/relay/server.ts";
import type { Service } from "../../../core/http/mod.ts";
import { waitFor } from "../../helpers.ts";
import { RawConn } from "../../support/raw_http.ts";
import { openStalled, startHistoryRelay } from "./relay_helpers.ts";

const QUEUE_BYTES = 1024 * 1024;
const EVENT_BYTES = 60_000;
const HISTORY = 300;
/** A write in flight is one replay chunk at most (a quarter of the queue) and its framing. */
const IN_FLIGHT = QUEUE_BYTES / 4 + 64;
/** The overflow event and the chunked coding's end, with room to spare. */
const OVERFLOW_FRAME = 1024;

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

function ids(text: string): number[] {
  return [...text.matchAll(/\nid: [^-\n]+-(\d+)\n/g)].map((m) => Number(m[1]));
}

/** A relay holding HISTORY events of `big`, a reader of its live events, a stalled replay. */
async function setup(opts: Partial<RelayServerOptions>) {
  const store = new MemoryStore({ maxEventsPerTopic: 10_000, maxAgeMs: 0, maxTopics: 10 });
  const relay: Service = await startHistoryRelay(store, HISTORY, EVENT_BYTES, {
    queueBytes: QUEUE_BYTES,
    ...opts,
  });
  const port = Number(new URL(relay.url).port);
  const held = async () =>
    metric(await (await fetch(`${relay.url}/metrics`)).text(), "iatp_relay_subscriber_bytes");
  const overflows = async () =>
    metric(await (await fetch(`${relay.url}/metrics`)).text(), "iatp_relay_overflows_total");
  const reader = await RawConn.open(port);
  await reader.write("GET /subscribe?topic=big&since=now HTTP/1.1\r\nHost: localhost\r\n\r\n");
  assert.ok(await reader.until((p) => p.includes("retry:")), "the reader's stream opened");
  const stalled: RawConn[] = [];
  await openStalled(port, 1, stalled); // never read (until the test says)
  // The replay stalled: what it holds stopped changing (its queue and socket are full).
  let last = -1;
  let same = 0;
  await waitFor(
    async () => {
      const now = await held();
      same = now > QUEUE_BYTES / 2 && now === last ? same + 1 : 0;
      last = now;
      return same >= 5;
    },
    30_000,
    "the replay to stall",
  );
  // Live events of its topic fill what is left of its queue: it is cut off with overflow.
  let published = 0;
  const blob = "y".repeat(EVENT_BYTES);
  while (await overflows() === 0) {
    assert.ok(published < 40, "the stalled subscriber was cut off");
    const r = await fetch(`${relay.url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "big", payload: { i: published, blob } }),
    });
    await r.body?.cancel();
    assert.equal(r.status, 201);
    published++;
  }
  const close = async () => {
    reader.close();
    for (const c of stalled) c.close();
    await relay.close();
  };
  return {
    url: relay.url,
    store,
    held,
    reader,
    stalled: stalled[0],
    published,
    before: last,
    close,
  };
}

Deno.test("a subscriber cut off holds only its write in flight and the overflow event, its socket still open", async () => {
  const s = await setup({ overflowWaitMs: 60_000 });
  try {
    // Right after the cut: its queue is gone, not held until the client reads or leaves.
    const after = await s.held();
    assert.ok(
      after <= IN_FLIGHT + OVERFLOW_FRAME,
      `held ${after} bytes after the cut (${s.before} before it)`,
    );
    // The reader next to it got every live event.
    const lastId = `id: ${s.store.epoch}-${HISTORY + s.published}\n`;
    assert.ok(await s.reader.until((p) => p.includes(lastId), 15_000), "the reader got them all");
    assert.deepEqual(
      ids(s.reader.pending),
      Array.from({ length: s.published }, (_, i) => HISTORY + 1 + i),
    );
    // Its connection stayed open: once it reads, it gets the events in order, then the overflow.
    assert.ok(await s.stalled.until((p) => p.includes("event: overflow"), 15_000));
    const got = ids(s.stalled.pending);
    assert.ok(got.length > 0, "the cut subscriber got some history first");
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i + 1));
    // Its stream ended after the overflow (the chunked coding's last chunk).
    assert.ok(
      await s.stalled.until((p) => /event: overflow\n[^]*\r\n0\r\n\r\n$/.test(p), 15_000),
      "its stream ended after the overflow",
    );
    await waitFor(async () => await s.held() === 0, 15_000, "the relay to hold nothing");
  } finally {
    await s.close();
  }
});

Deno.test("a subscriber cut off that never reads is closed after overflow_wait", async () => {
  const s = await setup({ overflowWaitMs: 200 });
  try {
    // Well before the connection's write stall deadline (idle_timeout, a minute).
    await waitFor(async () => await s.held() === 0, 15_000, "the cut connection to be let go");
    assert.ok(await s.stalled.closed(15_000), "the relay closed the connection");
    assert.ok(!s.stalled.pending.includes("event: overflow"), "never taken, never sent");
    // The reader is unaffected: it gets the next event too.
    const r = await fetch(`${s.url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "big", payload: { after: true } }),
    });
    await r.body?.cancel();
    assert.equal(r.status, 201);
    const lastId = `id: ${s.store.epoch}-${HISTORY + s.published + 1}\n`;
    assert.ok(await s.reader.until((p) => p.includes(lastId), 15_000), "the reader goes on");
  } finally {
    await s.close();
  }
});
