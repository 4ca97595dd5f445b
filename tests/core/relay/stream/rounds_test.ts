/**
 * Flush rounds (core/relay/rounds.ts): a round writes every member holding frames once; the next
 * waits until the last round's writes were taken (all but 1 in 100 stragglers), until the few left
 * stop making progress, or at most `maxWaitMs`, and no sooner than `minIntervalMs` after the last
 * round started (writes a member made for others in its round counted as the round's); an ended
 * member is neither written nor waited for; alike members share one joined chunk.
 * @module
 */
import assert from "node:assert/strict";
import {
  FlushRounds,
  RoundJoiner,
  type RoundMember,
} from "../../../../core/relay/stream/rounds.ts";
import { Hub } from "../../../../core/relay/hub.ts";
import { SseSubscriber } from "../../../../core/relay/stream/mod.ts";
import { TopicFilter } from "../../../../core/topic/mod.ts";
import { encodeEvent } from "../../../../core/http/mod.ts";

/** A member that counts its flushes; `writes` false: it holds nothing to write. */
class Member implements RoundMember {
  flushes = 0;
  constructor(public writes = true) {}
  flush(): boolean {
    this.flushes++;
    return this.writes;
  }
}

/** Lets the event loop turn `n` times (rounds start in a setImmediate). */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
}

/** Waits until `ok()` holds (the bounded wait of a round), failing after 5 s. */
async function until(ok: () => boolean): Promise<void> {
  const end = Date.now() + 5_000;
  while (!ok()) {
    if (Date.now() > end) throw new Error("condition not reached in 5 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("rounds: a marked member is written once per round, however often marked", async () => {
  const rounds = new FlushRounds();
  const a = new Member();
  rounds.mark(a);
  rounds.mark(a);
  assert.equal(rounds.due, 1);
  await turns();
  assert.equal(a.flushes, 1);
  assert.equal(rounds.due, 0);
});

Deno.test("rounds: the next round waits for the last one's writes to be taken", async () => {
  const rounds = new FlushRounds({ quietMs: 60_000 });
  const members = Array.from({ length: 3 }, () => new Member());
  for (const m of members) rounds.mark(m);
  await turns();
  assert.deepEqual(members.map((m) => m.flushes), [1, 1, 1]);
  // Frames arrive while every write is still in flight: they wait, coalesced.
  for (const m of members) rounds.mark(m);
  await turns();
  assert.deepEqual(members.map((m) => m.flushes), [1, 1, 1]);
  rounds.settled(members[0]);
  rounds.settled(members[1]);
  await turns();
  assert.deepEqual(members.map((m) => m.flushes), [1, 1, 1], "one write still in flight");
  rounds.settled(members[2]);
  await turns();
  assert.deepEqual(members.map((m) => m.flushes), [2, 2, 2]);
});

Deno.test("rounds: up to 1 in 100 stragglers are not waited for", async () => {
  const rounds = new FlushRounds({ quietMs: 60_000 });
  const members = Array.from({ length: 200 }, () => new Member());
  for (const m of members) rounds.mark(m);
  await turns();
  for (const m of members) rounds.mark(m);
  // Two of 200 never finish writing (a slow reader): the others settle, the round goes on.
  for (const m of members.slice(2)) rounds.settled(m);
  await turns();
  assert.ok(members.every((m) => m.flushes === 2));
});

/** A member writing `targets` for the round (as the fan-out writes a topic's subscribers). */
class Writer implements RoundMember {
  flushes = 0;
  constructor(public rounds: FlushRounds, public targets: RoundMember[]) {}
  flush(): boolean {
    this.flushes++;
    for (const t of this.targets) this.rounds.wrote(t);
    this.rounds.mark(this); // more to write next round
    return false;
  }
}

Deno.test("rounds: writes a member made for others are waited for, stragglers counted", async () => {
  const rounds = new FlushRounds({ quietMs: 60_000, minIntervalMs: 0 });
  const subscribers = Array.from({ length: 300 }, () => new Member());
  const writer = new Writer(rounds, subscribers);
  rounds.mark(writer);
  await turns();
  assert.equal(writer.flushes, 1);
  await turns();
  assert.equal(writer.flushes, 1, "its 300 writes are in flight");
  for (const s of subscribers.slice(4)) rounds.settled(s);
  await turns();
  assert.equal(writer.flushes, 1, "4 of 300 writes in flight: more than 1 in 100");
  rounds.settled(subscribers[3]);
  await turns();
  assert.equal(writer.flushes, 2, "3 of 301 writes in flight: stragglers");
});

Deno.test("rounds: writes that stopped making progress are not waited for", async () => {
  const rounds = new FlushRounds({ quietMs: 20, maxWaitMs: 60_000 });
  const [slow, fast] = [new Member(), new Member()];
  rounds.mark(slow);
  rounds.mark(fast);
  await turns();
  rounds.settled(fast); // progress, then nothing: slow's socket is full
  rounds.mark(fast);
  await until(() => fast.flushes === 2);
  assert.equal(slow.flushes, 1, "slow had nothing new to write");
});

Deno.test("rounds: a round with most of its writes in flight is not cut short by the quiet rule", async () => {
  const rounds = new FlushRounds({ quietMs: 10, maxWaitMs: 60_000 });
  const members = Array.from({ length: 200 }, () => new Member());
  for (const m of members) rounds.mark(m);
  await turns();
  for (const m of members) rounds.mark(m);
  // 150 of 200 writes not taken yet (the isolate still carrying them out): no progress for
  // several quiet periods does not start the next round.
  for (const m of members.slice(0, 50)) rounds.settled(m);
  await new Promise((r) => setTimeout(r, 60));
  assert.ok(members.every((m) => m.flushes === 1), "the round is still waited for");
  // 60 of 200 left (a few slow readers, at most 64): the quiet rule applies.
  for (const m of members.slice(50, 140)) rounds.settled(m);
  await until(() => members.every((m) => m.flushes === 2));
});

Deno.test("rounds: a round is waited for at most max wait", async () => {
  const rounds = new FlushRounds({ quietMs: 60_000, maxWaitMs: 30 });
  const slow = new Member();
  rounds.mark(slow);
  await turns();
  rounds.mark(slow);
  await until(() => slow.flushes === 2);
  rounds.settled(slow);
  rounds.mark(slow);
  await turns();
  assert.equal(slow.flushes, 3, "a settled round lets the next one start at once");
});

Deno.test("rounds: an ended member is neither written nor waited for", async () => {
  const rounds = new FlushRounds({ quietMs: 60_000 });
  const [a, b] = [new Member(), new Member()];
  rounds.mark(a);
  rounds.mark(b);
  rounds.forget(b);
  await turns();
  assert.equal(a.flushes, 1);
  assert.equal(b.flushes, 0);
  rounds.mark(a);
  rounds.mark(b);
  rounds.forget(a); // a's write in flight is no longer waited for
  await turns();
  assert.equal(b.flushes, 1);
});

Deno.test("rounds: a member with nothing to write is not waited for", async () => {
  const rounds = new FlushRounds({ quietMs: 60_000 });
  const [idle, busy] = [new Member(false), new Member()];
  rounds.mark(idle);
  await turns();
  rounds.mark(busy);
  await turns();
  assert.equal(busy.flushes, 1);
});

Deno.test("rounds: the next round starts no sooner than the minimum interval", async () => {
  const rounds = new FlushRounds({ minIntervalMs: 60_000 });
  const a = new Member();
  rounds.mark(a);
  await turns();
  assert.equal(a.flushes, 1, "the first round starts at once");
  rounds.settled(a);
  rounds.mark(a);
  await turns();
  assert.equal(a.flushes, 1, "held until a minute after the first round started");
  const fast = new FlushRounds({ minIntervalMs: 0 });
  fast.mark(a);
  await turns();
  fast.settled(a);
  fast.mark(a);
  await turns();
  assert.equal(a.flushes, 3);
});

Deno.test("rounds: members with the same frames share one joined chunk", () => {
  const joiner = new RoundJoiner();
  const [f1, f2] = [new Uint8Array([1, 2]), new Uint8Array([3])];
  const a = joiner.join([f1, f2], 3);
  const b = joiner.join([f1, f2], 3);
  assert.equal(a, b);
  assert.deepEqual([...a], [1, 2, 3]);
  const c = joiner.join([f2, f1], 3);
  assert.notEqual(c, a);
  assert.deepEqual([...c], [3, 1, 2]);
});

Deno.test("rounds: a topic's shared write is waited for before the next round (hub)", async () => {
  const rounds = new FlushRounds({ quietMs: 60_000, maxWaitMs: 60_000, minIntervalMs: 0 });
  const hub = new Hub();
  const s = new SseSubscriber({ rounds });
  hub.add(s, new TopicFilter(["t"]));
  s.goLive();
  // Read outside the edge: a write is taken once the reader asks for more.
  const body = s.body().getReader();
  const first = body.read(); // opens the stream
  const ev = (id: number) => encodeEvent({ id: String(id), data: "x" });
  const ids = (b: Uint8Array) => (new TextDecoder().decode(b).match(/id: \d+/g) ?? []).join();
  hub.dispatch("t", ev(1));
  await turns(); // a round writes event 1 (the shared chunk of topic t)
  assert.equal(ids((await first).value!), "id: 1");
  hub.dispatch("t", ev(2));
  await turns(); // a round now would write event 2 alone
  hub.dispatch("t", ev(3));
  await turns();
  // Asking for more takes write 1: the next round writes 2 and 3 as one.
  assert.equal(ids((await body.read()).value!), "id: 2,id: 3");
  s.end();
  await body.cancel();
});
