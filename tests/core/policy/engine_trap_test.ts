/**
 * Cedar's WebAssembly, once it trapped (ran out of memory), fails every later call: `/health`
 * says so (component `engine`) rather than `ok` while every decision is a deny. Its own file:
 * the trap leaves this process's Cedar unusable.
 */
import assert from "node:assert/strict";
import * as cedar from "@cedar-policy/cedar-wasm";
import { DEFAULT_POLICY_DIR } from "../../../cmd/policy.ts";
import { loadBundle } from "../../../core/policy/bundle.ts";
import { PolicyEngine } from "../../../core/policy/engine.ts";
import { policyHealth } from "../../../core/policy/health.ts";

const SEED_INTENT = {
  subject: { enterprise: "A", id: "a" },
  resource: { enterprise: "B", id: "r", scope: "read" },
  context: { session_risk: 1 },
};

Deno.test("a trap in Cedar's WebAssembly makes /health degraded, naming the engine", async () => {
  const engine = new PolicyEngine(await loadBundle(DEFAULT_POLICY_DIR));
  assert.equal(engine.evaluate(SEED_INTENT).decision, "allow");
  assert.equal(policyHealth(undefined, engine.bundle.ref, null, engine.trap).status, "ok");
  // A chain of 10,000 groups (what bundle loading now refuses) exhausts Cedar's memory.
  const entities = Array.from({ length: 10_000 }, (_, i) => ({
    uid: { type: "G", id: `g${i}` },
    attrs: {},
    parents: i === 0 ? [] : [{ type: "G", id: `g${i - 1}` }],
  }));
  assert.throws(
    () => cedar.checkParseEntities({ entities, schema: null }),
    WebAssembly.RuntimeError,
  );
  const d = engine.evaluate(SEED_INTENT);
  assert.equal(d.decision, "deny");
  assert.match(d.reason!, /engine error: memory access out of bounds/);
  const health = policyHealth(undefined, engine.bundle.ref, null, engine.trap);
  assert.equal(health.status, "degraded");
  const component = (health.components as Record<string, Record<string, unknown>>).engine;
  assert.equal(component.ok, false);
  assert.match(
    String(component.reason),
    /^Cedar failed on the latest decision \(memory access out of bounds\); decisions are denied/,
  );
});
