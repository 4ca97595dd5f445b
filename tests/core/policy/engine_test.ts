import assert from "node:assert/strict";
import { DEFAULT_POLICY_DIR } from "../../../cmd/policy.ts";
import { loadBundle, parseBundle, PolicyBundleError } from "../../../core/policy/bundle.ts";
import { PolicyEngine } from "../../../core/policy/engine.ts";
import type { Intent } from "../../../core/policy/intent.ts";
import { intentSchema } from "../../../core/policy/intent_schema.ts";

const SEED: Intent = {
  tx_id: "tx-seed",
  subject: { enterprise: "A", id: "agent-1", roles: ["buyer"] },
  resource: { enterprise: "B", id: "catalog", scope: "read" },
  context: { device: "laptop", geo: "EU", session_risk: 42 },
};

const engine = new PolicyEngine(await loadBundle(DEFAULT_POLICY_DIR));

Deno.test("the seed intent is allowed with risk_after 37 and the timebox obligation", () => {
  const d = engine.evaluate(intentSchema.parse(SEED));
  assert.equal(d.tx_id, "tx-seed");
  assert.equal(d.decision, "allow");
  assert.equal(d.risk_after, 37);
  assert.deepEqual(d.obligations, { timebox: 3600 });
  assert.deepEqual(d.explanation, { determining_policies: ["seed-read-a-to-b"], errors: [] });
  assert.match(d.policy_ref, /^sha256:[0-9a-f]{16}$/);
  assert.ok(!Number.isNaN(Date.parse(d.ts)));
});

Deno.test("deny cases: high risk, write scope, other enterprises, anything missing", () => {
  const cases: Array<[string, Intent, number | null]> = [
    ["risk 60", { ...SEED, context: { session_risk: 60 } }, 60],
    ["risk 50", { ...SEED, context: { session_risk: 50 } }, 50],
    ["scope write", { ...SEED, resource: { ...SEED.resource, scope: "write" } }, 42],
    ["subject enterprise C", { ...SEED, subject: { ...SEED.subject, enterprise: "C" } }, 42],
    ["resource enterprise A", { ...SEED, resource: { ...SEED.resource, enterprise: "A" } }, 42],
    ["no context", { ...SEED, context: undefined }, null],
    ["no session_risk", { ...SEED, context: { device: "x" } }, null],
    ["no subject", { ...SEED, subject: undefined }, 42],
    ["no subject enterprise", { ...SEED, subject: { id: "agent-1" } }, 42],
    ["no resource", { ...SEED, resource: undefined }, 42],
    ["no scope", { ...SEED, resource: { enterprise: "B", id: "c" } }, 42],
    ["empty intent", {}, null],
  ];
  for (const [name, intent, risk] of cases) {
    const d = engine.evaluate(intentSchema.parse(intent));
    assert.equal(d.decision, "deny", name);
    assert.deepEqual(d.obligations, {}, name);
    assert.equal(d.risk_after, risk, name);
    assert.deepEqual(d.explanation.determining_policies, [], name);
  }
  const generated = engine.evaluate(intentSchema.parse({}));
  assert.match(generated.tx_id, /^[0-9a-f-]{36}$/);
});

Deno.test("malformed intents are schema errors, not engine crashes", () => {
  for (
    const bad of [
      { context: { session_risk: "42" } },
      { context: { session_risk: 42.5 } },
      { context: { session_risk: -1 } },
      { subject: "A" },
      { subject: { roles: "admin" } },
      { resource: { scope: 7 } },
      { context: { nested: { deep: { deeper: 1 } } } },
      { context: { x: null } },
      [],
    ]
  ) {
    assert.equal(intentSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

function bundleOf(files: Record<string, string>) {
  return parseBundle("mem", new Map(Object.entries(files).sort()));
}

Deno.test("obligations and risk deltas come from annotations; forbid overrides permit", () => {
  const e = new PolicyEngine(bundleOf({
    "a.cedar": `
      @id("p1") @obligation_timebox("60") @obligation_mfa("true") @risk_delta("-3")
      permit (principal, action == Action::"read", resource);
      @id("p2") @obligation_region("EU") @risk_delta("-10")
      permit (principal, action == Action::"read", resource) when { context has geo && context.geo == "EU" };
      @id("f1") forbid (principal, action, resource) when { context has blocked && context.blocked };`,
  }));
  const eu = e.evaluate({ resource: { scope: "read" }, context: { session_risk: 12, geo: "EU" } });
  assert.equal(eu.decision, "allow");
  assert.deepEqual(eu.explanation.determining_policies.sort(), ["p1", "p2"]);
  assert.deepEqual(eu.obligations, { timebox: 60, mfa: true, region: "EU" });
  assert.equal(eu.risk_after, 0); // max(0, 12 - 3 - 10)
  const us = e.evaluate({ resource: { scope: "read" }, context: { session_risk: 12, geo: "US" } });
  assert.equal(us.risk_after, 9);
  assert.deepEqual(us.obligations, { timebox: 60, mfa: true });
  const blocked = e.evaluate({
    resource: { scope: "read" },
    context: { session_risk: 5, blocked: true },
  });
  assert.equal(blocked.decision, "deny");
  assert.deepEqual(blocked.explanation.determining_policies, ["f1"]);
  assert.equal(blocked.risk_after, 5);
});

Deno.test("policy evaluation errors are reported in the explanation", () => {
  const e = new PolicyEngine(bundleOf({
    "a.cedar":
      `@id("needs-level") permit (principal, action, resource) when { context.level > 3 };`,
  }));
  const d = e.evaluate({ resource: { scope: "read" }, context: {} });
  assert.equal(d.decision, "deny");
  assert.equal(d.explanation.errors[0]?.policy, "needs-level");
});

Deno.test("bad bundles are rejected with the file named", async () => {
  const schema = await Deno.readTextFile(`${DEFAULT_POLICY_DIR}/schema.cedarschema`);
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ "x.cedar": "permit (principal, action, resource" }, /x\.cedar/],
    [
      {
        "x.cedar":
          `permit (principal, action == Action::"read", resource) when { principal.enterprise == "A" };`,
        "s.cedarschema": schema,
      },
      /x\.cedar:1: policy .* fails validation/,
    ],
    [{
      "x.cedar": `@id("a") permit (principal, action, resource);`,
      "y.cedar": `@id("a") forbid (principal, action, resource);`,
    }, /"a" is also used/],
    [{ "x.cedar": `@risk_delta("lots") permit (principal, action, resource);` }, /risk_delta/],
    [{ "s.cedarschema": schema }, /no policies/],
    [
      { "x.cedar": "permit (principal, action, resource);", "entities.json": "{" },
      /entities\.json/,
    ],
  ];
  for (const [files, re] of cases) {
    assert.throws(
      () => bundleOf(files),
      (err: Error) => err instanceof PolicyBundleError && re.test(err.message),
      re.source,
    );
  }
  await assert.rejects(loadBundle("/nonexistent/policies"), PolicyBundleError);
});

Deno.test("input cedar-wasm throws on is a deny carrying the engine's error, never a throw", () => {
  const intents: Intent[] = [
    { ...SEED, subject: { ...SEED.subject, id: "\ud800" } },
    { ...SEED, context: { session_risk: 1, "\udc00": "x" } },
    { ...SEED, context: { session_risk: 1, nested: { k: "a\ud800" } } },
  ];
  for (const intent of intents) {
    const d = engine.evaluate(intent, "tx-bad");
    assert.equal(d.decision, "deny");
    assert.equal(d.tx_id, "tx-bad");
    assert.deepEqual(d.obligations, {});
    assert.equal(d.explanation.errors.length, 1);
    assert.match(d.explanation.errors[0].message, /^engine error: /);
  }
});

Deno.test("entities.json places a principal in groups: one entity, the bundle's parents and attributes", () => {
  const e = new PolicyEngine(bundleOf({
    "a.cedar": `@id("admins") permit (principal in G::"admins", action, resource)
      when { principal has enterprise && principal.enterprise == "Z" };`,
    "entities.json": JSON.stringify([
      {
        uid: { __entity: { type: "Subject", id: "alice" } },
        attrs: { enterprise: "Z" },
        parents: [{ type: "G", id: "admins" }],
      },
      { uid: { type: "G", id: "admins" }, attrs: {}, parents: [] },
    ]),
  }));
  const ask = (subject: Record<string, unknown>) =>
    e.evaluate({ subject, resource: { id: "r", scope: "read" }, context: {} });
  // Given twice (the intent's and the bundle's), Cedar refused every request from alice.
  const alice = ask({ id: "alice", roles: ["x"] });
  assert.equal(alice.decision, "allow", alice.reason);
  // The bundle's attributes win over what the intent claims.
  assert.equal(ask({ id: "alice", enterprise: "A" }).decision, "allow");
  const bob = ask({ id: "bob", enterprise: "Z" });
  assert.equal(bob.decision, "deny");
  assert.match(bob.reason!, /needs principal in G::"admins", but principal is Subject::"bob"/);
});
