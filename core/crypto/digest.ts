/**
 * SHA-256 digests as hex, and the constant-time comparison of secrets, in plain JavaScript (no
 * node:crypto: see ./sha256.ts).
 * @module
 */
import { encodeHex } from "../encoding/mod.ts";
import { sha256Js } from "./sha256.ts";

const UTF8 = new TextEncoder();

/**
 * Lowercase hex SHA-256 of bytes, or of a string's UTF-8 bytes (a lone surrogate as U+FFFD, as
 * TextEncoder writes it).
 *
 * @example
 * ```ts
 * sha256Hex("abc"); // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
 * ```
 */
export function sha256Hex(data: Uint8Array | string): string {
  return encodeHex(sha256Js(typeof data === "string" ? UTF8.encode(data) : data));
}

/**
 * Lowercase hex SHA-256 of bytes, by WebCrypto: for inputs that may be large (a request body up to
 * its limit), where native hashing runs several times faster than {@linkcode sha256Hex} and the
 * caller can wait.
 *
 * @example
 * ```ts
 * await sha256HexOfBody(new TextEncoder().encode("abc")); // "ba7816bf...f20015ad"
 * ```
 */
export async function sha256HexOfBody(data: Uint8Array): Promise<string> {
  return encodeHex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>)),
  );
}

/**
 * Whether two byte strings are equal, in time that depends only on their length: for MACs,
 * digests of secrets and anything else an attacker may probe byte by byte. Every byte is
 * compared (the differences are OR-ed together, with no branch on them); strings of different
 * lengths are unequal at once (the length is not secret).
 *
 * @example
 * ```ts
 * constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])); // true
 * ```
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
