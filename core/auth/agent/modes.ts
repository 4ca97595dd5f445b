/**
 * The host agents' signed-API settings that their configuration and start read: the signing
 * modes, the warning of the compatibility mode, and the rate and replay defaults (the verifier,
 * the limiter and the replay store that use them are core/auth's).
 * @module
 */

/** How a host agent signs and verifies: iatp's canonical string, upstream's body-only, or both. */
export const SIGNING_MODES = ["iatp", "upstream", "both"] as const;
/** One signing mode. */
export type SigningMode = typeof SIGNING_MODES[number];

/** The warning every start logs when body-only signatures are accepted or produced. */
export const BODY_SIGNING_WARNING =
  "signing compatibility mode: body-only signatures can be replayed against other paths and " +
  "methods within the replay window; use signing: iatp once every peer supports it";

/** Default requests per minute per caller (RATE_LIMIT_PER_MIN upstream). */
export const DEFAULT_RATE_LIMIT_PER_MIN = 120;

/** Default bound on remembered request ids; beyond it new requests are refused, not evicted. */
export const DEFAULT_REPLAY_MAX_ENTRIES = 100_000;
