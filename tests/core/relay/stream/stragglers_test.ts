/**
 * Stalled readers cannot pace the others (core/relay/stream/rounds.ts, on real sockets): a
 * minority of subscribers that never read, more than the quiet rule's few, do not hold every
 * round of the healthy subscribers to the maximum wait while their queues fill up to
 * `queue_bytes`; they are cut off with overflow and the healthy ones get every event in order.
 * @module
 */
import assert from "node:assert/strict";
import { Hub } from "../../../../core/relay/hub.ts";
import { type EndReason, FlushRounds } from "../../../../core/relay/stream/mod.ts";
import { encodeEvent } from "../../../../core/http/mod.ts";
import { openStream, type SseReader } from "../relay_helpers.ts";
import { RawConn } from "../../../support/raw_http.ts";
import { fanOut, ids, registered } from "./hub_helpers.ts";

const HEALTHY = 10;
const STALLED = 70; // more than 64 and than a tenth of the round's writes

/** Waits until every reader got `n` events, failing after 10 s (a round held for the stalled). */
async function delivered(readers: SseReader[], n: number, ends: EndReason[]): Promise<void> {
  const end = Date.now() + 10_000;
  while (readers.some((r) => r.events.length < n)) {
    if (Date.now() > end) throw new Error(`event ${n} not delivered (${ends.length} cut off)`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("rounds: subscribers that never read do not pace the healthy ones' rounds", async () => {
  const hub = new Hub();
  // A round is waited for up to a minute: pacing by the stalled readers would hold every event.
  const rounds = new FlushRounds({ maxWaitMs: 60_000 });
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends, rounds);
  const port = Number(new URL(svc.url).port);
  const stalled: RawConn[] = [];
  const healthy: SseReader[] = [];
  try {
    for (let i = 0; i < STALLED; i++) {
      const c = await RawConn.open(port);
      stalled.push(c);
      await c.write("GET /s HTTP/1.1\r\nHost: localhost\r\n\r\n"); // and never reads
    }
    for (let i = 0; i < HEALTHY; i++) healthy.push(await openStream(`${svc.url}/s`));
    await registered(hub, STALLED + HEALTHY);
    const pad = "z".repeat(16_000);
    let sent = 0;
    // One event a round: each is published once every healthy reader got the one before, so
    // a round held for the stalled readers' writes shows as an event not delivered in 10 s.
    while (ends.filter((e) => e === "overflow").length < STALLED && sent < 5_000) {
      hub.dispatch("t", encodeEvent({ id: String(++sent), data: pad }));
      await delivered(healthy, sent, ends);
    }
    assert.equal(ends.length, STALLED, `${ends.length} cut off after ${sent} events`);
    assert.ok(ends.every((e) => e === "overflow"));
    const all = Array.from({ length: sent }, (_, i) => i + 1);
    for (const r of healthy) assert.deepEqual(ids(r), all);
  } finally {
    for (const c of stalled) c.close();
    await Promise.all(healthy.map((r) => r.close()));
    await svc.close();
  }
});
