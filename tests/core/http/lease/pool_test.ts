/**
 * The pool of lent body buffers: a buffer sized for what is lent (small or large), reused only
 * for a body of its own size class, and each class kept within its bound.
 */
import assert from "node:assert/strict";
import {
  giveBackLease,
  LEASE_BYTES,
  LEASE_POOL_MAX,
  leaseView,
  SMALL_LEASE_BYTES,
  takeLease,
} from "../../../../core/http/lease/pool.ts";

Deno.test("a lent buffer is small for a body that fits one, else of the largest size", () => {
  assert.equal(takeLease(0).length, SMALL_LEASE_BYTES);
  assert.equal(takeLease(SMALL_LEASE_BYTES).length, SMALL_LEASE_BYTES);
  assert.equal(takeLease(SMALL_LEASE_BYTES + 1).length, LEASE_BYTES);
  assert.equal(takeLease(LEASE_BYTES).length, LEASE_BYTES);
  assert.equal(takeLease().length, LEASE_BYTES);
});

Deno.test("a buffer given back serves the next body of its own size class only", () => {
  const small = takeLease(10);
  const large = takeLease(SMALL_LEASE_BYTES + 10);
  giveBackLease(small);
  giveBackLease(large);
  assert.equal(takeLease(SMALL_LEASE_BYTES + 10), large);
  assert.notEqual(takeLease(SMALL_LEASE_BYTES + 10), small);
  assert.equal(takeLease(10), small);
  // A buffer of another size is let go, never lent.
  const odd = new Uint8Array(SMALL_LEASE_BYTES + 1);
  giveBackLease(odd);
  assert.notEqual(takeLease(SMALL_LEASE_BYTES + 1), odd);
  assert.notEqual(takeLease(1), odd);
});

Deno.test("each size class keeps at most LEASE_POOL_MAX buffers", () => {
  for (const n of [1, LEASE_BYTES]) {
    const out = Array.from({ length: LEASE_POOL_MAX + 5 }, () => takeLease(n));
    for (const b of out) giveBackLease(b);
    const again = Array.from({ length: LEASE_POOL_MAX + 5 }, () => takeLease(n));
    const reused = again.filter((b) => out.includes(b)).length;
    assert.equal(reused, LEASE_POOL_MAX);
  }
});

Deno.test("a lent buffer's view is made once per buffer and length, for the last two asked", () => {
  const a = takeLease(10);
  const b = takeLease(10);
  const va = leaseView(a, 10);
  assert.equal(va.length, 10);
  assert.strictEqual(va.buffer, a.buffer);
  const vb = leaseView(b, 3);
  assert.strictEqual(leaseView(a, 10), va, "the view before the last, again");
  assert.strictEqual(leaseView(b, 3), vb, "the last view, again");
  // Another length is another view, and the oldest one kept is let go.
  const va2 = leaseView(a, 4);
  assert.equal(va2.length, 4);
  assert.notStrictEqual(va2, va);
  assert.strictEqual(leaseView(b, 3), vb);
  assert.notStrictEqual(leaseView(a, 10), va);
  giveBackLease(a);
  giveBackLease(b);
});
