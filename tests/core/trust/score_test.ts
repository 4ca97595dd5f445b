import assert from "node:assert/strict";
import {
  decideTrust,
  type DecisionContext,
  isQuarantined,
  type TrustFactors,
  trustScore,
} from "../../../core/trust/mod.ts";

const f = (
  trustLevel: TrustFactors["trustLevel"],
  reversibility: TrustFactors["reversibility"],
  retention: TrustFactors["retention"],
  humanInLoop = false,
  trainingConsent = false,
): TrustFactors => ({ trustLevel, reversibility, retention, humanInLoop, trainingConsent });

Deno.test("trust score: the worked values of the Go sidecar and spec IATP-001", () => {
  assert.equal(trustScore(f("standard", "partial", "temporary")), 7);
  assert.equal(trustScore(f("trusted", "full", "ephemeral")), 10);
  assert.equal(trustScore(f("standard", "none", "temporary")), 5);
  assert.equal(trustScore(f("unknown", "partial", "temporary")), 4);
  assert.equal(trustScore(f("verified_partner", "full", "ephemeral")), 10, "clamped at 10");
  assert.equal(trustScore(f("untrusted", "none", "forever", true, true)), 0, "clamped at 0");
  assert.equal(trustScore(f("standard", "partial", "forever")), 6, "forever counts as permanent");
  assert.equal(trustScore(f("standard", "partial", "temporary", true)), 5);
  assert.equal(trustScore(f("standard", "partial", "temporary", false, true)), 6);
});

Deno.test("quarantine: score < 3, untrusted, or irreversible with permanent retention", () => {
  assert.equal(isQuarantined(f("standard", "partial", "temporary")), false);
  assert.equal(isQuarantined(f("untrusted", "full", "ephemeral")), true);
  assert.equal(isQuarantined(f("unknown", "none", "temporary")), true, "score 2");
  assert.equal(isQuarantined(f("verified_partner", "none", "permanent")), true);
  assert.equal(isQuarantined(f("verified_partner", "none", "forever")), true);
  assert.equal(isQuarantined(f("verified_partner", "none", "temporary")), false);
});

function ctx(factors: TrustFactors): DecisionContext {
  return {
    retention: factors.retention,
    reversibility: factors.reversibility,
    humanInLoop: factors.humanInLoop,
    trustScore: trustScore(factors),
    quarantined: isQuarantined(factors),
  };
}

Deno.test("decision order: card block, SSN block, warning, allow", () => {
  const none = { creditCard: false, ssn: false };
  const card = { creditCard: true, ssn: false };
  const ssn = { creditCard: false, ssn: true };
  for (const retention of ["permanent", "forever"] as const) {
    const d = decideTrust(ctx(f("trusted", "full", retention)), card, false);
    assert.equal(d.action, "block");
    assert.ok(d.action === "block" && d.reason === "credit_card" && d.status === 403);
  }
  assert.equal(
    decideTrust(ctx(f("standard", "partial", "temporary")), card, false).action,
    "allow",
  );
  const s = decideTrust(ctx(f("verified_partner", "full", "temporary")), ssn, true);
  assert.ok(s.action === "block" && s.reason === "ssn", "an override never lifts a privacy block");
  assert.equal(
    decideTrust(ctx(f("verified_partner", "full", "ephemeral")), ssn, false).action,
    "allow",
  );
  const w = decideTrust(ctx(f("unknown", "partial", "temporary")), none, false);
  assert.ok(w.action === "warn" && w.status === 449 && w.trustScore === 4);
  assert.match(w.action === "warn" ? w.warning : "", /Low trust score \(4\/10\)/);
  const o = decideTrust(ctx(f("unknown", "partial", "temporary")), none, true);
  assert.deepEqual(o, { action: "allow", overridden: true, quarantined: false });
  const q = decideTrust(ctx(f("verified_partner", "none", "permanent")), none, false);
  assert.deepEqual(q, { action: "allow", overridden: false, quarantined: true });
});
