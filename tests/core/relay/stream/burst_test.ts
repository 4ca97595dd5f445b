/**
 * The live fan-out when the relay itself fell behind (core/relay/hub.ts): a burst of events far
 * larger than a subscriber's queue, arriving in one turn of a blocked event loop (a starved worker
 * isolate reading its backlog, a long synchronous pause), reaches every subscriber that reads
 * (real sockets), in order and whole; a subscriber whose socket does not drain is still cut off
 * at its bound; the events waiting in the hub stay within its own bound.
 * @module
 */
import assert from "node:assert/strict";
import { SseParser } from "../../../../core/http/mod.ts";
import { Hub } from "../../../../core/relay/hub.ts";
import { type EndReason, SseSubscriber } from "../../../../core/relay/stream/mod.ts";
import { TopicFilter } from "../../../../core/topic/mod.ts";
import { openStream } from "../relay_helpers.ts";
import { RawConn } from "../../../support/raw_http.ts";
import { fanOut, frames, ids, QUEUE, registered } from "./hub_helpers.ts";

const FILTER = new TopicFilter(["t"]);

Deno.test("burst: events far beyond the queue bound, in one turn, reach every reader", async () => {
  const hub = new Hub();
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends);
  const readers = await Promise.all(Array.from({ length: 8 }, () => openStream(`${svc.url}/s`)));
  try {
    await registered(hub, 8);
    // 4,000 events (about 1.3 MiB, 20 queues' worth) offered while the loop does not turn.
    const burst = frames(1, 4_000);
    for (const f of burst) hub.dispatch("t", f);
    for (const r of readers) {
      await r.until((ev) => ev.length >= 4_000 || ev.some((e) => e.event === "overflow"), 30_000);
    }
    assert.deepEqual(ends, [], "no reader was cut off");
    const want = Array.from({ length: 4_000 }, (_, i) => i + 1);
    for (const r of readers) assert.deepEqual(ids(r), want);
    assert.equal(hub.backlog, 0);
  } finally {
    await Promise.all(readers.map((r) => r.close()));
    await svc.close();
  }
});

Deno.test("burst: a subscriber whose socket does not drain is still cut off at its bound", async () => {
  const hub = new Hub();
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends);
  const reader = await openStream(`${svc.url}/s`);
  const stalled = await RawConn.open(Number(new URL(svc.url).port));
  try {
    await stalled.write("GET /s HTTP/1.1\r\nHost: localhost\r\n\r\n"); // and never reads
    await registered(hub, 2);
    let sent = 0;
    // Bursts of 1,000 events until the stalled one is cut off (its socket buffers fill first).
    while (!ends.includes("overflow") && sent < 200_000) {
      for (const f of frames(sent + 1, 1_000)) hub.dispatch("t", f);
      sent += 1_000;
      await reader.until((ev) => ev.length >= sent, 30_000);
    }
    assert.deepEqual(ends, ["overflow"], `cut off after ${sent} events`);
    assert.equal(hub.size, 1);
    assert.deepEqual(ids(reader), Array.from({ length: sent }, (_, i) => i + 1));
  } finally {
    stalled.close();
    await reader.close();
    await svc.close();
  }
});

Deno.test("burst: a subscriber registered while events wait gets only the newer ones", async () => {
  const hub = new Hub();
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends);
  const first = await openStream(`${svc.url}/s`);
  try {
    await registered(hub, 1);
    for (const f of frames(1, 1_000)) hub.dispatch("t", f);
    assert.ok(hub.backlog > 0, "most of the burst waits in the hub");
    // As a subscription registers: in the same turn as its replay of the store (1..1000).
    const late = new SseSubscriber({ queueBytes: QUEUE });
    hub.add(late, FILTER);
    late.goLive();
    for (const f of frames(1_001, 10)) hub.dispatch("t", f);
    const got: number[] = [];
    const body = late.body().pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser((e) => got.push(Number(e.id)));
    while (got.length < 10) {
      const { value, done } = await body.read();
      if (done) break;
      parser.push(value);
    }
    await body.cancel();
    assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => 1_001 + i));
    await first.until((ev) => ev.length >= 1_010, 30_000);
    assert.deepEqual(ids(first), Array.from({ length: 1_010 }, (_, i) => i + 1));
  } finally {
    await first.close();
    await svc.close();
  }
});

Deno.test("burst: beyond the hub's bound its subscribers resume from the store", async () => {
  const hub = new Hub({ backlogBytes: 256 * 1024 });
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends);
  const reader = await openStream(`${svc.url}/s`);
  try {
    await registered(hub, 1);
    for (const f of frames(1, 2_000)) hub.dispatch("t", f);
    await reader.until((ev) => ev.some((e) => e.event === "overflow"), 30_000);
    const last = reader.events[reader.events.length - 1];
    assert.equal(JSON.parse(last.data).reason, "relay fell behind");
    assert.deepEqual(ends, ["overflow"]);
    assert.equal(hub.backlog, 0);
    assert.equal(hub.size, 0);
  } finally {
    await reader.close();
    await svc.close();
  }
});

Deno.test("burst: subscribers of different topics each take their own share of a round", async () => {
  // 50 topics, 100 events each, interleaved: 1.7 MB at once, 34 KB per subscriber. Counted
  // together it would pass the hub's bound (1 MiB); per subscriber, one round takes half of it.
  const hub = new Hub({ backlogBytes: 1024 * 1024 });
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends);
  const readers = await Promise.all(
    Array.from({ length: 50 }, (_, i) => openStream(`${svc.url}/s?topic=t${i}`)),
  );
  try {
    await registered(hub, 50);
    const burst = frames(1, 5_000);
    burst.forEach((f, i) => hub.dispatch(`t${i % 50}`, f));
    for (const r of readers) {
      await r.until((ev) => ev.length >= 100 || ev.some((e) => e.event === "overflow"), 30_000);
    }
    assert.deepEqual(ends, [], "no subscriber was cut off");
    readers.forEach((r, k) =>
      assert.deepEqual(ids(r), Array.from({ length: 100 }, (_, i) => 1 + k + 50 * i))
    );
  } finally {
    await Promise.all(readers.map((r) => r.close()));
    await svc.close();
  }
});
