/**
 * The IATP trust score (Go sidecar and spec IATP-001 §2.3) and the quarantine rule (Python
 * sidecar). Pure functions of the manifest's policy fields.
 * @module
 */

/** Trust levels, most trusted first. */
export const TRUST_LEVELS = [
  "verified_partner",
  "trusted",
  "standard",
  "unknown",
  "untrusted",
] as const;
/** A trust level. */
export type TrustLevel = typeof TRUST_LEVELS[number];
/** Reversibility levels. */
export const REVERSIBILITY_LEVELS = ["full", "partial", "none"] as const;
/** A reversibility level. */
export type Reversibility = typeof REVERSIBILITY_LEVELS[number];
/** Retention policies (the spec adds `forever` to Go's three). */
export const RETENTION_POLICIES = ["ephemeral", "temporary", "permanent", "forever"] as const;
/** A retention policy. */
export type Retention = typeof RETENTION_POLICIES[number];

/** The fields the score depends on. */
export interface TrustFactors {
  trustLevel: TrustLevel;
  reversibility: Reversibility;
  retention: Retention;
  humanInLoop: boolean;
  trainingConsent: boolean;
}

/** Below this score a request needs an override (HTTP 449). */
export const WARN_BELOW_SCORE = 7;
/** Below this score the agent is quarantined. */
const QUARANTINE_BELOW_SCORE = 3;

const BASE: Record<TrustLevel, number> = {
  verified_partner: 10,
  trusted: 7,
  standard: 5,
  unknown: 2,
  untrusted: 0,
};

/** True for retention that keeps data indefinitely. */
export function isPermanent(retention: Retention): boolean {
  return retention === "permanent" || retention === "forever";
}

/** The 0..10 trust score. standard/partial/temporary = 7; unknown/partial/temporary = 4. */
export function trustScore(f: TrustFactors): number {
  let score = BASE[f.trustLevel];
  if (f.reversibility !== "none") score += 2;
  if (f.retention === "ephemeral") score += 1;
  if (isPermanent(f.retention)) score -= 1;
  if (f.humanInLoop) score -= 2;
  if (f.trainingConsent) score -= 1;
  return Math.max(0, Math.min(10, score));
}

/** Quarantine: score < 3, untrusted, or irreversible actions on permanently kept data. */
export function isQuarantined(f: TrustFactors): boolean {
  return trustScore(f) < QUARANTINE_BELOW_SCORE || f.trustLevel === "untrusted" ||
    (f.reversibility === "none" && isPermanent(f.retention));
}
