/**
 * A relay that gets far more events at once than a subscriber's queue holds (publishes pipelined
 * on one connection: handled in one go, as a starved isolate handles the events it missed) still
 * delivers every one of them to subscribers that read, cutting none off.
 * @module
 */
import assert from "node:assert/strict";
import { RawConn } from "../../support/raw_http.ts";
import { openSse, seqs, startRelay } from "./relay_helpers.ts";

const EVENTS = 2_000;

Deno.test("relay: 2,000 pipelined publishes (10 queues' worth) reach every reading subscriber", async () => {
  const relay = await startRelay({ queue_bytes: 64 * 1024, max_payload_bytes: 32 * 1024 });
  const readers = await Promise.all(
    Array.from({ length: 4 }, () => openSse(relay.url, "topic=b&since=now")),
  );
  const pub = await RawConn.open(Number(new URL(relay.url).port));
  try {
    const body = JSON.stringify({ topic: "b", payload: { pad: "p".repeat(250) } });
    const req = `POST /publish HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`;
    await pub.write(req.repeat(EVENTS));
    const answered = await pub.until((p) => p.split("HTTP/1.1 20").length > EVENTS, 60_000);
    assert.ok(answered, "every publish answered");
    for (const r of readers) {
      await r.until(
        (ev) =>
          ev.filter((e) => e.event === "message").length >= EVENTS ||
          ev.some((e) => e.event === "overflow"),
        60_000,
      );
      assert.ok(!r.events.some((e) => e.event === "overflow"), "not cut off");
      assert.deepEqual(seqs(r), Array.from({ length: EVENTS }, (_, i) => i + 1));
    }
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    assert.match(metrics, /iatp_relay_overflows_total\{[^}]*\} 0\b/);
    assert.match(metrics, /iatp_relay_backlog_bytes\{[^}]*\} 0\b/, "nothing left waiting");
  } finally {
    pub.close();
    await Promise.all(readers.map((r) => r.close()));
    await relay.close();
  }
});
