/**
 * Trust: the capability manifest, the trust score and quarantine rule, override secrets, the
 * allow / warn 449 / block 403 decision, and signed attestations.
 * @module
 */
export {
  type Attestation,
  type AttestationCheck,
  createAttestation,
  verifyAttestation,
} from "./attestation.ts";
export {
  checkSourcesUnchanged,
  FILE_CLOCK_SLACK_MS,
  hashCodebase,
  SourcesChangedError,
} from "./codebase.ts";
export {
  decideTrust,
  type DecisionContext,
  type Findings,
  type TrustDecision,
} from "./decision.ts";
export {
  buildManifest,
  type ManifestFields,
  parseVerificationKey,
  type SignedManifest,
  signManifest,
  type WireManifest,
} from "./manifest.ts";
export { createOverridePolicy, type OverridePolicy } from "./override.ts";
export {
  isQuarantined,
  type Retention,
  RETENTION_POLICIES,
  type Reversibility,
  REVERSIBILITY_LEVELS,
  TRUST_LEVELS,
  type TrustFactors,
  type TrustLevel,
  trustScore,
  WARN_BELOW_SCORE,
} from "./score.ts";
