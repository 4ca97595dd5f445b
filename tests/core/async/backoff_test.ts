/** Tests for the jittered exponential backoff schedule. @module */
import assert from "node:assert/strict";
import { backoffDelay } from "../../../core/async/mod.ts";

Deno.test("equal jitter: inside [ceiling/2, ceiling], growing by the factor, capped", () => {
  const p = { baseMs: 100, maxMs: 1_000 };
  assert.equal(backoffDelay(0, p, () => 0), 50);
  assert.equal(backoffDelay(0, p, () => 1), 100);
  assert.equal(backoffDelay(2, p, () => 1), 400);
  assert.equal(backoffDelay(2, p, () => 0.5), 300);
  assert.equal(backoffDelay(10, p, () => 1), 1_000);
  assert.equal(backoffDelay(10, p, () => 0), 500);
});

Deno.test("no jitter: the watchdog's base x factor^n schedule (10/15/22.5/33.75/50.6 s)", () => {
  const p = { baseMs: 10_000, maxMs: Infinity, factor: 1.5, jitter: "none" as const };
  assert.deepEqual([0, 1, 2, 3, 4].map((n) => backoffDelay(n, p)), [
    10_000,
    15_000,
    22_500,
    33_750,
    50_625,
  ]);
});

Deno.test("huge and negative attempts stay finite and non-negative", () => {
  const p = { baseMs: 1, maxMs: Infinity, jitter: "none" as const };
  assert.equal(backoffDelay(1e9, p), 2 ** 30);
  assert.equal(backoffDelay(-5, p), 1);
  assert.ok(Number.isFinite(backoffDelay(Number.MAX_SAFE_INTEGER, { baseMs: 5, maxMs: 60_000 })));
});
