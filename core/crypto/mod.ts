/**
 * Cryptography shared by the modules that sign and verify: Ed25519 keys from 32-byte seeds,
 * signing and verification (manifests, attestations, checkpoints, credentials, plugins),
 * SHA-256 (as hex, or the bytes, in plain JavaScript), and the constant-time comparison of secrets.
 *
 * @example
 * ```ts
 * import { generateKeyPair, sign, verify } from "./mod.ts";
 * const keys = await generateKeyPair();
 * const sig = await sign(keys.privateKey, "hello");
 * await verify(keys.publicRaw, sig, "hello"); // true
 * ```
 * @module
 */
export { constantTimeEqual, sha256Hex, sha256HexOfBody } from "./digest.ts";
export { sha256Js } from "./sha256.ts";
export {
  type Ed25519KeyPair,
  generateKeyPair,
  importPublicKey,
  importSeed,
  sign,
  verify,
} from "./ed25519.ts";
