/**
 * Mesh-auth settings without the verifier: `file:PATH` secrets, issuer public keys, subject
 * names, and the error a malformed key is.
 *
 * @example
 * ```ts
 * resolveAuthKeys(["iatp-ed25519:" + "A".repeat(43)]); // the key, checked
 * ```
 * @module
 */
export {
  CredentialError,
  type CredentialFailure,
  isCredentialSubject,
  parsePublicKey,
  PUBLIC_KEY_PREFIX,
  resolveAuthKeys,
  resolveSecretSetting,
  SUBJECT_PATTERN,
} from "./settings.ts";
