import assert from "node:assert/strict";
import { RateLimiter } from "../../../core/auth/rate_limit.ts";
import { Scopes } from "../../../core/auth/scopes.ts";

Deno.test("scopes are default-deny", () => {
  for (const s of [Scopes.parse(undefined), Scopes.parse(""), Scopes.parse(" , ")]) {
    assert.equal(s.empty, true);
    assert.equal(s.allows("docker:restart"), false);
    assert.equal(s.allows(""), false);
  }
  const s = Scopes.parse("docker:logs, compose:*");
  assert.equal(s.allows("docker:logs"), true);
  assert.equal(s.allows("docker:restart"), false);
  assert.equal(s.allows("compose:deploy_app"), true);
  assert.equal(Scopes.parse("*").allows("anything"), true);
});

Deno.test("rate limiter: per key budget, refills over time, bounded keys", () => {
  let now = 0;
  const rl = new RateLimiter(3, 2, () => now);
  for (let i = 0; i < 3; i++) assert.equal(rl.take("a").allowed, true);
  const denied = rl.take("a");
  assert.equal(denied.allowed, false);
  assert.ok(denied.retryAfterSecs >= 1);
  assert.equal(rl.take("b").allowed, true, "other callers keep their own budget");
  now += 20_000; // 3/min -> one token per 20 s
  assert.equal(rl.take("a").allowed, true);
  assert.equal(rl.take("a").allowed, false);
  rl.take("c"); // evicts the least recent key ("b")
  for (let i = 0; i < 3; i++) assert.equal(rl.take("b").allowed, true, "b starts afresh");
});
