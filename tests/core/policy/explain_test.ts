/** Policy decisions carry a reason: the permitting policy, the forbidding one, or what failed. */
import assert from "node:assert/strict";
import { DEFAULT_POLICY_DIR } from "../../../cmd/policy.ts";
import { loadBundle, parseBundle } from "../../../core/policy/bundle.ts";
import { PolicyEngine } from "../../../core/policy/engine.ts";
import type { Intent } from "../../../core/policy/intent.ts";

const seed = new PolicyEngine(await loadBundle(DEFAULT_POLICY_DIR));

function intent(enterprise: string, scope: string, risk?: number): Intent {
  return {
    tx_id: "t",
    subject: { enterprise: "A", id: "agent-7", roles: ["analyst"] },
    resource: { enterprise, id: "dataset-42", scope },
    context: risk === undefined ? {} : { device: "laptop", geo: "EU", session_risk: risk },
  };
}

Deno.test("the seed policy's decisions name the policy, the failed condition and the value", () => {
  assert.equal(seed.evaluate(intent("B", "read", 42)).reason, "permitted by seed-read-a-to-b");
  assert.equal(
    seed.evaluate(intent("B", "read", 70)).reason,
    "no policy permitted it: seed-read-a-to-b needs context.session_risk < 50, " +
      "but context.session_risk is 70",
  );
  assert.equal(
    seed.evaluate(intent("B", "write", 10)).reason,
    'no policy permitted it: seed-read-a-to-b needs action == Action::"read", ' +
      'but action is Action::"write"',
  );
  assert.equal(
    seed.evaluate(intent("C", "read", 10)).reason,
    'no policy permitted it: seed-read-a-to-b needs resource.enterprise == "B", ' +
      'but resource.enterprise is "C"',
  );
  assert.equal(
    seed.evaluate(intent("B", "read")).reason,
    "no policy permitted it: seed-read-a-to-b needs context.session_risk, which is missing",
  );
});

Deno.test("forbids, unless clauses, several permits and evaluation errors are explained", () => {
  const e = new PolicyEngine(parseBundle(
    "mem",
    new Map([[
      "a.cedar",
      `@id("p1") permit (principal, action == Action::"read", resource)
         unless { context has blocked && context.blocked };
       @id("f1") forbid (principal, action, resource) when { context has evil };
       @id("needs-level") permit (principal, action, resource) when { context.level > 3 };`,
    ]]),
  ));
  assert.equal(
    e.evaluate({ resource: { scope: "read" }, context: { evil: true } }).reason,
    "forbidden by f1",
  );
  const blocked = e.evaluate({ resource: { scope: "read" }, context: { blocked: true } }).reason!;
  assert.match(
    blocked,
    /^no policy permitted it: p1 needs not \(.*context\.blocked\), but context\.blocked is true/,
  );
  assert.match(blocked, /needs-level could not be evaluated/);
  const write = e.evaluate({ resource: { scope: "write" }, context: { level: 1 } }).reason!;
  assert.match(write, /p1 needs action == Action::"read", but action is Action::"write"/);
  assert.match(write, /needs-level needs context\.level > 3, but context\.level is 1/);
  assert.equal(
    e.evaluate({ resource: { scope: "read" }, context: { level: 4 } }).reason,
    "permitted by p1, needs-level",
  );
});

Deno.test("a long explanation is bounded", () => {
  const many = Array.from(
    { length: 9 },
    (_, i) =>
      `@id("p${i}") permit (principal, action == Action::"x${i}", resource) when { context has a${i} && context.a${i} == ${i} };`,
  ).join("\n");
  const e = new PolicyEngine(parseBundle("mem", new Map([["a.cedar", many]])));
  const reason = e.evaluate({ resource: { scope: "read" }, context: {} }).reason!;
  assert.match(reason, /p4 needs/);
  assert.doesNotMatch(reason, /p5 needs/, "at most five policies are named");
  assert.equal(reason.length, 500);
  assert.ok(reason.endsWith("…"));
});

Deno.test("a bundle written for a namespace or other types says what the request held instead", () => {
  const e = new PolicyEngine(parseBundle(
    "mem",
    new Map([
      [
        "s.cedarschema",
        `namespace App { entity User, Photo; action "view" appliesTo { principal: User, resource: Photo }; }`,
      ],
      ["a.cedar", `@id("view") permit (principal, action == App::Action::"view", resource);`],
    ]),
  ));
  assert.equal(
    e.evaluate({ subject: { id: "u" }, resource: { id: "p", scope: "view" } }).reason,
    'no policy permitted it: view needs action == App::Action::"view", but action is ' +
      'Action::"view"',
  );
});
