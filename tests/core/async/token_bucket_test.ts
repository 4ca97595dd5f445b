/** Tests for the token bucket: burst, refill, waiting and abort. @module */
import assert from "node:assert/strict";
import { TokenBucket } from "../../../core/async/mod.ts";

Deno.test("token bucket: burst, then refill at the configured rate", () => {
  let now = 0;
  const b = new TokenBucket(2, 3, () => now);
  assert.deepEqual([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()], [true, true, true, false]);
  now = 499;
  assert.equal(b.tryTake(), false);
  now = 500;
  assert.equal(b.tryTake(), true);
  now = 10_000;
  assert.deepEqual([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()], [true, true, true, false]);
});

Deno.test("token bucket: msUntilToken counts down to the next token", () => {
  let now = 0;
  const b = new TokenBucket(4, 1, () => now);
  assert.equal(b.msUntilToken(), 0);
  assert.equal(b.tryTake(), true);
  assert.equal(b.msUntilToken(), 250);
  now = 100;
  assert.equal(b.msUntilToken(), 150);
});

Deno.test("token bucket: take waits for a refill, and stops waiting on abort", async () => {
  const b = new TokenBucket(1000, 1);
  assert.equal(await b.take(), true);
  assert.equal(await b.take(), true, "the second token arrives after a refill");
  const slow = new TokenBucket(0.001, 1);
  slow.tryTake();
  const ac = new AbortController();
  const waiting = slow.take(ac.signal);
  assert.equal(slow.waiting, 1);
  ac.abort();
  assert.equal(await waiting, false);
  assert.equal(slow.waiting, 0);
});

Deno.test("token bucket refuses a rate or burst that could never give a token", () => {
  assert.throws(() => new TokenBucket(0, 1), RangeError);
  assert.throws(() => new TokenBucket(1, 0.5), RangeError);
});
