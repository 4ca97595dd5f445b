/**
 * What the host agents read at start of core/auth, apart from the verifier, signing and mesh
 * credentials: where their HMAC key comes from (a value or Vault KV v2, refreshed), the signing
 * modes and the signed API's defaults. The compose agent loads the rest of core/auth with its
 * command API (about 1.3 MB of an idle agent with the status agent's parts of core/hostagent).
 *
 * @example
 * ```ts
 * const token = staticToken("k".repeat(64));
 * token.current(); // the key
 * ```
 * @module
 */
export {
  BODY_SIGNING_WARNING,
  DEFAULT_RATE_LIMIT_PER_MIN,
  DEFAULT_REPLAY_MAX_ENTRIES,
  SIGNING_MODES,
  type SigningMode,
} from "./modes.ts";
export {
  checkHmacKey,
  DEFAULT_VAULT_REFRESH_MS,
  MIN_HMAC_KEY_BYTES,
  shortHmacKey,
  staticToken,
  type TokenConfig,
  tokenHealth,
  type TokenSource,
  tokenSourceFrom,
} from "./tokens.ts";
