/**
 * Small response bodies in pooled buffers: each response keeps its own bytes until released,
 * a release given twice does not hand one buffer to two responses, and bodies too large for a
 * pooled buffer (or not all buffered) come in arrays of their own with nothing to release.
 */
import assert from "node:assert/strict";
import { type ClientRequest, OriginPool } from "../../../../core/http/client/pool.ts";
import { LEASE_BYTES } from "../../../../core/http/lease/mod.ts";
import { ok, startRawAgent } from "../../../support/raw_agent.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function post(): ClientRequest {
  return { method: "POST", target: "/", headers: [], body: enc.encode("{}"), timeoutMs: 5000 };
}

Deno.test("lent response bodies stay each response's own until released", async () => {
  const big = "L".repeat(LEASE_BYTES + 1);
  const agent = startRawAgent((a) =>
    ok(a.n === 9 ? big : `{"n":${a.n},"pad":"${"x".repeat(a.n)}"}`)
  );
  const pool = new OriginPool(agent.origin);
  const own = (n: number) => `{"n":${n},"pad":"${"x".repeat(n)}"}`;
  try {
    // Held, never released: later responses never write over it.
    const first = await pool.request(post());
    assert.ok(first.body instanceof Uint8Array);
    assert.equal(typeof first.release, "function");
    for (let i = 1; i <= 4; i++) {
      const r = await pool.request(post());
      assert.ok(r.body instanceof Uint8Array);
      assert.equal(dec.decode(r.body), own(i));
      r.release?.();
      r.release?.(); // a second release does nothing
    }
    assert.equal(dec.decode(first.body as Uint8Array), own(0));
    // Two in flight at once after double releases: distinct buffers, each its own bytes.
    const [a, b] = await Promise.all([pool.request(post()), pool.request(post())]);
    const texts = [dec.decode(a.body as Uint8Array), dec.decode(b.body as Uint8Array)].sort();
    assert.deepEqual(texts, [own(5), own(6)].sort());
    const [c, d] = await Promise.all([pool.request(post()), pool.request(post())]);
    assert.deepEqual(
      [dec.decode(a.body as Uint8Array), dec.decode(b.body as Uint8Array)].sort(),
      texts,
      "held bodies unchanged by the next responses",
    );
    for (const r of [a, b, c, d]) r.release?.();
    // A body larger than a pooled buffer: an array of its own, nothing to release.
    const large = await pool.request(post());
    assert.equal(dec.decode(large.body as Uint8Array), big);
    assert.equal(large.release, undefined);
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("lent bodies either side of the small-copy size arrive whole, each its own", async () => {
  // The agent answers request n with a body of sizes[n] bytes, its last byte telling them apart.
  const sizes = [1, 63, 64, 65, 200, 64, 63, 4096];
  const body = (n: number) => "b".repeat(sizes[n] - 1) + String.fromCharCode(65 + n);
  const agent = startRawAgent((a) => ok(body(a.n)));
  const pool = new OriginPool(agent.origin);
  try {
    const held: Uint8Array[] = [];
    for (let n = 0; n < sizes.length; n++) {
      const r = await pool.request(post());
      assert.ok(r.body instanceof Uint8Array);
      assert.equal(r.body.length, sizes[n]);
      assert.equal(dec.decode(r.body), body(n));
      held.push(r.body);
    }
    // None released: each still holds its own bytes.
    held.forEach((b, n) => assert.equal(dec.decode(b), body(n), `body ${n}`));
  } finally {
    pool.close();
    agent.close();
  }
});
