/**
 * The live fan-out's order and hand-over rules (core/relay/hub.ts), on real sockets: a subscriber
 * registered between an event and the round that writes it gets only the events after its
 * registration; one still replaying gets the live events after its replay, in order; one of
 * several topics gets their events in publish order; frames due when the relay shuts down are
 * still written.
 * @module
 */
import assert from "node:assert/strict";
import { Hub } from "../../../../core/relay/hub.ts";
import { type EndReason, FlushRounds, SseSubscriber } from "../../../../core/relay/stream/mod.ts";
import { TopicFilter } from "../../../../core/topic/mod.ts";
import { encodeEvent, SseParser } from "../../../../core/http/mod.ts";
import { openStream } from "../relay_helpers.ts";
import { RawConn } from "../../../support/raw_http.ts";
import { fanOut, frames, ids, QUEUE, readIds, registered } from "./hub_helpers.ts";

const FILTER = new TopicFilter(["t"]);
const upTo = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

Deno.test("fan-out: a subscriber registered before a round is written gets only later events", async () => {
  const hub = new Hub();
  const rounds = new FlushRounds();
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends, rounds);
  const first = await openStream(`${svc.url}/s`);
  try {
    await registered(hub, 1);
    for (const f of frames(1, 5)) hub.dispatch("t", f);
    // Registered in the same turn, before the round that writes 1..5 (they are in its replay).
    const late = new SseSubscriber({ queueBytes: QUEUE, rounds });
    hub.add(late, FILTER);
    late.goLive();
    for (const f of frames(6, 5)) hub.dispatch("t", f);
    assert.deepEqual(await readIds(late, 5), upTo(6, 10));
    await first.until((ev) => ev.length >= 10);
    assert.deepEqual(ids(first), upTo(1, 10));
    assert.deepEqual(ends, []);
  } finally {
    await first.close();
    await svc.close();
  }
});

Deno.test("fan-out: a subscriber still replaying gets the live events after its replay", async () => {
  const hub = new Hub();
  const rounds = new FlushRounds();
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends, rounds);
  const first = await openStream(`${svc.url}/s`);
  try {
    await registered(hub, 1);
    const replaying = new SseSubscriber({ queueBytes: QUEUE, rounds });
    hub.add(replaying, FILTER);
    for (const f of frames(1, 3)) hub.dispatch("t", f);
    await first.until((ev) => ev.length >= 3); // the rounds carrying 1..3 were written
    assert.ok(await replaying.write(frames(91, 2)[0]));
    assert.ok(await replaying.write(frames(92, 1)[0]));
    replaying.goLive();
    for (const f of frames(4, 3)) hub.dispatch("t", f);
    assert.deepEqual(await readIds(replaying, 8), [91, 92, ...upTo(1, 6)]);
    await first.until((ev) => ev.length >= 6);
    assert.deepEqual(ids(first), upTo(1, 6));
  } finally {
    await first.close();
    await svc.close();
  }
});

Deno.test("fan-out: a subscriber of several topics gets their events in publish order", async () => {
  const hub = new Hub();
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends);
  const both = await openStream(`${svc.url}/s?topic=a&topic=b`);
  const a = await openStream(`${svc.url}/s?topic=a`);
  const b = await openStream(`${svc.url}/s?topic=b`);
  try {
    await registered(hub, 3);
    // Interleaved in one turn and over several turns.
    frames(1, 40).forEach((f, i) => hub.dispatch(i % 3 === 0 ? "b" : "a", f));
    for (const f of frames(41, 20)) {
      hub.dispatch(Number(new TextDecoder().decode(f).match(/id: (\d+)/)![1]) % 2 ? "a" : "b", f);
      await new Promise((r) => setTimeout(r, 0));
    }
    await both.until((ev) => ev.length >= 60);
    assert.deepEqual(ids(both), upTo(1, 60));
    const inA = (n: number) => n <= 40 ? (n - 1) % 3 !== 0 : n % 2 === 1;
    await a.until((ev) => ev.length >= upTo(1, 60).filter(inA).length);
    assert.deepEqual(ids(a), upTo(1, 60).filter(inA));
    await b.until((ev) => ev.length >= upTo(1, 60).filter((n) => !inA(n)).length);
    assert.deepEqual(ids(b), upTo(1, 60).filter((n) => !inA(n)));
  } finally {
    await Promise.all([both, a, b].map((r) => r.close()));
    await svc.close();
  }
});

Deno.test("fan-out: events offered just before shutdown are still written", async () => {
  const hub = new Hub();
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends);
  const readers = await Promise.all([1, 2].map(() => openStream(`${svc.url}/s`)));
  try {
    await registered(hub, 2);
    for (const f of frames(1, 7)) hub.dispatch("t", f);
    hub.forEach((s) => s.end("shutdown")); // as the relay drains, in the same turn
    for (const r of readers) {
      await r.ended;
      assert.deepEqual(ids(r), upTo(1, 7));
    }
    assert.deepEqual(ends, ["shutdown", "shutdown"]);
  } finally {
    await Promise.all(readers.map((r) => r.close()));
    await svc.close();
  }
});

Deno.test("fan-out: a stalled subscriber is cut off at its bound while events come turn by turn", async () => {
  const hub = new Hub();
  const ends: EndReason[] = [];
  const svc = await fanOut(hub, ends);
  const reader = await openStream(`${svc.url}/s`);
  const stalled = await RawConn.open(Number(new URL(svc.url).port));
  try {
    await stalled.write("GET /s HTTP/1.1\r\nHost: localhost\r\n\r\n"); // and never reads
    await registered(hub, 2);
    const pad = "y".repeat(4000);
    let sent = 0;
    // Four events of 4 KB a turn until the stalled one is cut off (its socket buffers fill first).
    while (!ends.includes("overflow") && sent < 40_000) {
      for (let i = 0; i < 4; i++) hub.dispatch("t", encodeEvent({ id: String(++sent), data: pad }));
      await new Promise((r) => setTimeout(r, 0));
    }
    assert.deepEqual(ends, ["overflow"], `cut off after ${sent} events`);
    assert.equal(hub.size, 1);
    await reader.until((ev) => ev.length >= sent, 30_000);
    assert.deepEqual(ids(reader), upTo(1, sent));
  } finally {
    stalled.close();
    await reader.close();
    await svc.close();
  }
});

Deno.test("fan-out: a round's shared write is cut off exactly at the queue bound", async () => {
  const rounds = new FlushRounds({ quietMs: 0, minIntervalMs: 0 });
  const hub = new Hub();
  const f = frames(1, 9); // 9 frames of equal size
  const F = f[0].length;
  const ends: EndReason[][] = [[], []];
  // Room for exactly 4 frames not taken, and for 4.6 of them.
  const subs = [4 * F, Math.floor(4.6 * F)].map((queueBytes, i) => {
    const s: SseSubscriber = new SseSubscriber({
      queueBytes,
      rounds,
      onEnd: (why) => (hub.remove(s), ends[i].push(why)),
    });
    hub.add(s, FILTER);
    s.goLive();
    return s;
  });
  const readers = subs.map((s) => s.body().getReader());
  const firsts = readers.map((r) => r.read()); // opens each stream; takes frame 1's write
  const turns = async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 0));
  };
  // One frame a round; nothing is read after frame 1: the rest stays queued on each stream.
  for (const frame of f) {
    hub.dispatch("t", frame);
    await turns();
  }
  await Promise.all(firsts.map(async (p) => assert.ok(!(await p).done)));
  const got = await Promise.all(readers.map(async (r) => {
    const seen: string[] = ["1"];
    const parser = new SseParser((e) => seen.push(e.event === "overflow" ? "overflow" : e.id!));
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await r.read();
      if (done) return seen;
      parser.push(dec.decode(value, { stream: true }));
    }
  }));
  // Frames 2..5 queue up to 4F (exactly the first bound); frame 6 passes both.
  assert.deepEqual(got[0], ["1", "2", "3", "4", "5", "overflow"]);
  assert.deepEqual(got[1], ["1", "2", "3", "4", "5", "overflow"]);
  assert.deepEqual(ends, [["overflow"], ["overflow"]]);
});

Deno.test("fan-out: frames counted delivered are those queued, not a round's a subscriber was cut off at", async () => {
  const rounds = new FlushRounds({ quietMs: 0, minIntervalMs: 0 });
  let delivered = 0;
  const hub = new Hub({ onDelivered: (n) => delivered += n });
  const f = frames(1, 9);
  const ends: EndReason[] = [];
  const s: SseSubscriber = new SseSubscriber({
    queueBytes: 4 * f[0].length,
    rounds,
    onEnd: (why) => (hub.remove(s), ends.push(why)),
  });
  // A subscriber of two topics, offered each event as it comes, counted by dispatch.
  const both = new SseSubscriber({ queueBytes: QUEUE, rounds });
  hub.add(s, FILTER);
  hub.add(both, new TopicFilter(["t", "u"]));
  s.goLive();
  both.goLive();
  const reader = s.body().getReader();
  const first = reader.read(); // opens the stream; takes frame 1's write
  const other = readIds(both, 9);
  for (const frame of f) {
    delivered += hub.dispatch("t", frame);
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 0));
  }
  await first;
  let queued = 1;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    queued += new TextDecoder().decode(value).match(/^id: /gm)?.length ?? 0;
  }
  assert.deepEqual(await other, upTo(1, 9));
  assert.deepEqual(ends, ["overflow"]);
  assert.equal(queued, 5);
  assert.equal(delivered, queued + 9, "frame 6, at which it was cut off, is not counted");
});
