/**
 * Ed25519 keys from raw 32-byte seeds, signing and verification on WebCrypto.
 * Shared by the sidecar (manifest and attestation signatures) and the ledger (checkpoints).
 * @module
 */
import { decodeBase64, encodeBase64 } from "../encoding/mod.ts";

/** A loaded key pair. */
export interface Ed25519KeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** Raw 32-byte public key. */
  publicRaw: Uint8Array;
}

// PKCS#8 prefix for an Ed25519 private key: SEQUENCE { version 0, algId 1.3.101.112, OCTET STRING { OCTET STRING seed } }
const PKCS8_PREFIX = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);

/**
 * Imports a key pair from a raw 32-byte seed.
 * @throws {RangeError} when the seed is not 32 bytes
 */
export async function importSeed(seed: Uint8Array): Promise<Ed25519KeyPair> {
  if (seed.length !== 32) throw new RangeError(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(seed, PKCS8_PREFIX.length);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, "Ed25519", true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const publicRaw = decodeBase64(jwk.x!);
  const publicKey = await importPublicKey(publicRaw);
  return { privateKey, publicKey, publicRaw };
}

/** Generates a fresh key pair and returns it with its seed (base64) for persistence. */
export async function generateKeyPair(): Promise<Ed25519KeyPair & { seedBase64: string }> {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  return { ...(await importSeed(seed)), seedBase64: encodeBase64(seed) };
}

/** Imports a raw 32-byte public key for verification. */
export function importPublicKey(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new Uint8Array(raw), "Ed25519", true, ["verify"]);
}

/** Signs bytes or a UTF-8 string. */
export async function sign(key: CryptoKey, data: Uint8Array | string): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(data);
  return new Uint8Array(await crypto.subtle.sign("Ed25519", key, bytes));
}

/** Verifies a signature; false (never a throw) on any malformed input. */
export async function verify(
  publicKey: CryptoKey | Uint8Array,
  signature: Uint8Array,
  data: Uint8Array | string,
): Promise<boolean> {
  try {
    const key = publicKey instanceof Uint8Array ? await importPublicKey(publicKey) : publicKey;
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(data);
    return await crypto.subtle.verify("Ed25519", key, new Uint8Array(signature), bytes);
  } catch {
    return false;
  }
}
