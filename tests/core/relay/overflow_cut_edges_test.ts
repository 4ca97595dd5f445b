/**
 * A subscriber cut off with `event: overflow` on the edges of the wire: an HTTP/1.0 client (its
 * body ends with the connection, no chunked coding) gets the write in flight whole, then the
 * overflow event, then the end of the connection; one that never reads is closed after
 * `overflow_wait`; one that half-closes its side is let go without waiting for it.
 * @module
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../../core/relay/memory_store.ts";
import type { RelayServerOptions } from "../../../core/relay/server.ts";
import { waitFor } from "../../helpers.ts";
import { RawConn } from "../../support/raw_http.ts";
import { startHistoryRelay } from "./relay_helpers.ts";

const QUEUE_BYTES = 1024 * 1024;
const EVENT_BYTES = 60_000;
const HISTORY = 300;

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

function ids(text: string): number[] {
  return [...text.matchAll(/\nid: [^-\n]+-(\d+)\n/g)].map((m) => Number(m[1]));
}

/** A relay holding HISTORY events, one stalled replay opened with `version`, cut off. */
async function cutOff(version: "1.0" | "1.1", opts: Partial<RelayServerOptions>) {
  const store = new MemoryStore({ maxEventsPerTopic: 10_000, maxAgeMs: 0, maxTopics: 10 });
  const relay = await startHistoryRelay(store, HISTORY, EVENT_BYTES, {
    queueBytes: QUEUE_BYTES,
    ...opts,
  });
  const port = Number(new URL(relay.url).port);
  const metrics = async (name: string) =>
    metric(await (await fetch(`${relay.url}/metrics`)).text(), name);
  const held = () => metrics("iatp_relay_subscriber_bytes");
  const stalled = await RawConn.open(port);
  await stalled.write(
    `GET /subscribe?topic=big&since=0 HTTP/${version}\r\nHost: localhost\r\n\r\n`,
  );
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
  let published = 0;
  const blob = "y".repeat(EVENT_BYTES);
  while (await metrics("iatp_relay_overflows_total") === 0) {
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
  return {
    held,
    stalled,
    close: async () => {
      stalled.close();
      await relay.close();
    },
  };
}

Deno.test("an HTTP/1.0 subscriber cut off gets its write in flight whole, the overflow event, then the end of the connection", async () => {
  const s = await cutOff("1.0", { overflowWaitMs: 60_000 });
  try {
    assert.ok(await s.stalled.closed(15_000), "the connection ended after the overflow");
    const text = s.stalled.pending;
    assert.match(text, /^HTTP\/1\.[01] 200 /);
    assert.ok(!/transfer-encoding/i.test(text.slice(0, text.indexOf("\r\n\r\n"))));
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    // Whole frames only, then the overflow event last.
    const frames = body.split("\n\n");
    assert.equal(frames.pop(), "", "the body ends with a whole frame");
    const tail = frames.pop()!;
    assert.match(tail, /^event: overflow\ndata: \{"reason":/);
    for (const f of frames.slice(1)) assert.match(f, /^id: [^\n]+\nevent: message\ndata: \{/);
    const got = ids(body);
    assert.ok(got.length > 0);
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i + 1));
    await waitFor(async () => await s.held() === 0, 15_000, "the relay to hold nothing");
  } finally {
    await s.close();
  }
});

Deno.test("an HTTP/1.0 subscriber cut off that never reads is closed after overflow_wait", async () => {
  const s = await cutOff("1.0", { overflowWaitMs: 200 });
  try {
    await waitFor(async () => await s.held() === 0, 15_000, "the cut connection to be let go");
    assert.ok(await s.stalled.closed(15_000), "the relay closed the connection");
    assert.ok(!s.stalled.pending.includes("event: overflow"), "never taken, never sent");
  } finally {
    await s.close();
  }
});

Deno.test("a subscriber cut off that half-closes its side is let go before overflow_wait", async () => {
  const s = await cutOff("1.1", { overflowWaitMs: 600_000 });
  try {
    await s.stalled.closeWrite();
    await waitFor(async () => await s.held() === 0, 15_000, "the half-closed connection let go");
    assert.ok(await s.stalled.closed(15_000), "the relay closed the connection");
  } finally {
    await s.close();
  }
});
