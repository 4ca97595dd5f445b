/**
 * What all of a relay's subscribers hold together is bounded (`queue_bytes_total`): subscribers
 * that replay a large history and never read are cut off with `event: overflow`, those holding
 * the most first, once their queues together pass it; a subscriber that reads keeps receiving
 * every event, and publishes are answered while the replays run.
 * @module
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../../core/relay/memory_store.ts";
import { HELD_REASON } from "../../../core/relay/stream/mod.ts";
import { waitFor } from "../../helpers.ts";
import { RawConn } from "../../support/raw_http.ts";
import { openStalled, startHistoryRelay } from "./relay_helpers.ts";

const QUEUE_BYTES = 1024 * 1024;
const TOTAL_BYTES = 3 * QUEUE_BYTES;
const EVENT_BYTES = 60_000;
const HISTORY = 300;
const STALLED = 8;
const LIVE = 40;

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

function ids(text: string): number[] {
  return [...text.matchAll(/\nid: [^-\n]+-(\d+)\n/g)].map((m) => Number(m[1]));
}

Deno.test("stalled replays past queue_bytes_total end with overflow while a reader gets every event", async () => {
  const store = new MemoryStore({ maxEventsPerTopic: 10_000, maxAgeMs: 0, maxTopics: 10 });
  const relay = await startHistoryRelay(store, HISTORY, EVENT_BYTES, {
    queueBytes: QUEUE_BYTES,
    queueBytesTotal: TOTAL_BYTES,
    // The subscribers cut off are read from at the end: their connections wait for it.
    overflowWaitMs: 60_000,
  });
  const port = Number(new URL(relay.url).port);
  const metrics = async () => await (await fetch(`${relay.url}/metrics`)).text();
  const stalled: RawConn[] = [];
  const reader = await RawConn.open(port);
  try {
    await reader.write("GET /subscribe?topic=big&since=now HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert.ok(await reader.until((p) => p.includes("retry:")), "the reader's stream opened");
    // Never read (until the end): each replay fills its queue and socket.
    await openStalled(port, STALLED, stalled);
    // Publishes are answered while the replays run; the reader gets each of them.
    for (let i = 0; i < LIVE; i++) {
      const r = await fetch(`${relay.url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "big", payload: { i } }),
      });
      await r.body?.cancel();
      assert.equal(r.status, 201);
    }
    await waitFor(
      async () => metric(await metrics(), "iatp_relay_total_overflows_total") >= STALLED - 3,
      30_000,
      "stalled subscribers to be cut off",
    );
    const text = await metrics();
    const cut = metric(text, "iatp_relay_total_overflows_total");
    // Open subscribers hold at most the bound; those cut off at most their queue and one chunk
    // each until their sockets let it go.
    const held = metric(text, "iatp_relay_subscriber_bytes");
    assert.ok(
      held <= TOTAL_BYTES + cut * (QUEUE_BYTES + QUEUE_BYTES / 4 + EVENT_BYTES),
      `subscribers hold ${held} bytes, ${cut} cut off`,
    );
    assert.ok(metric(text, "iatp_relay_overflows_total") >= cut);
    const last = HISTORY + LIVE;
    assert.ok(
      await reader.until((p) => p.includes(`id: ${store.epoch}-${last}\n`), 30_000),
      "every live event reached the reader",
    );
    assert.deepEqual(ids(reader.pending), Array.from({ length: LIVE }, (_, i) => HISTORY + 1 + i));
    assert.ok(!reader.pending.includes("event: overflow"), "the reader was not cut off");
    // A subscriber cut off got the events in order, then the overflow; its resume goes on.
    let ended: RawConn | undefined;
    for (const c of stalled) {
      if (await c.until((p) => p.includes("event: overflow"), 2_000)) {
        ended = c;
        break;
      }
    }
    assert.ok(ended, "a stalled subscriber got event: overflow");
    assert.ok(ended.pending.includes(HELD_REASON));
    const got = ids(ended.pending);
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i + 1));
    const resume = await RawConn.open(port);
    const from = `${store.epoch}-${got.at(-1) ?? 0}`;
    await resume.write(
      `GET /subscribe?topic=big HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: ${from}\r\n\r\n`,
    );
    const next = `id: ${store.epoch}-${(got.at(-1) ?? 0) + 1}\n`;
    assert.ok(await resume.until((p) => p.includes(next), 10_000), "the resume goes on");
    resume.close();
  } finally {
    reader.close();
    for (const c of stalled) c.close();
    await relay.close();
  }
});

Deno.test("a stalled replay holds at most its queue_bytes, as /metrics counts it", async () => {
  const store = new MemoryStore({ maxEventsPerTopic: 10_000, maxAgeMs: 0, maxTopics: 10 });
  const relay = await startHistoryRelay(store, HISTORY, EVENT_BYTES, { queueBytes: QUEUE_BYTES });
  const port = Number(new URL(relay.url).port);
  const stalled: RawConn[] = [];
  try {
    await openStalled(port, 4, stalled); // never read
    // The replays stalled: what they hold stopped changing (their queues and sockets are full).
    let last = -1;
    let same = 0;
    await waitFor(
      async () => {
        const now = metric(
          await (await fetch(`${relay.url}/metrics`)).text(),
          "iatp_relay_subscriber_bytes",
        );
        same = now > 0 && now === last ? same + 1 : 0;
        last = now;
        return same >= 5;
      },
      30_000,
      "the replays to stall",
    );
    // Each holds its queue at most (and the chunked coding's few bytes per chunk).
    assert.ok(last <= 4 * (QUEUE_BYTES + 1024), `4 stalled subscribers hold ${last} bytes`);
  } finally {
    for (const c of stalled) c.close();
    await relay.close();
  }
});
