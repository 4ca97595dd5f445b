/**
 * Trust: the capability manifest, the trust score and quarantine rule, override secrets, the
 * allow / warn 449 / block 403 decision, and signed attestations.
 * @module
 */
export * from "./attestation.ts";
export * from "./codebase.ts";
export * from "./decision.ts";
export * from "./manifest.ts";
export * from "./override.ts";
export * from "./score.ts";
