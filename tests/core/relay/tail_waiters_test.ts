/**
 * Resumes waiting for a tail: settled true once the tail reaches their position, false at their
 * timeout or when the tail closes; a timed-out waiter is gone (the tail's later moves settle only
 * the ones still waiting).
 */
import assert from "node:assert/strict";
import { TailWaiters } from "../../../core/relay/tail_waiters.ts";

Deno.test("tail waiters settle at the tail's position, at their timeout, and at close", async () => {
  let position = 0;
  const waiters = new TailWaiters(() => position);
  assert.equal(await waiters.waitFor(0, 10), true, "a position already reached");
  const early = waiters.waitFor(2, 60_000);
  const late = waiters.waitFor(5, 60_000);
  const timedOut = await waiters.waitFor(3, 1);
  assert.equal(timedOut, false);
  position = 2;
  waiters.wake();
  assert.equal(await early, true);
  const settled: boolean[] = [];
  void late.then((ok) => settled.push(ok));
  await Promise.resolve();
  assert.deepEqual(settled, [], "a position not reached yet keeps waiting");
  waiters.close();
  assert.equal(await late, false);
  assert.equal(await waiters.waitFor(9, 60_000), false, "after close, at once");
});

Deno.test("many waiters time out, in any order, and the rest still settle at the tail", async () => {
  let position = 0;
  const waiters = new TailWaiters(() => position);
  const gone = Array.from({ length: 2_000 }, (_, i) => waiters.waitFor(10 + i, 1 + (i % 7)));
  const kept = waiters.waitFor(10, 60_000);
  assert.deepEqual(new Set(await Promise.all(gone)), new Set([false]));
  position = 10;
  waiters.wake();
  assert.equal(await kept, true);
  waiters.close();
});
