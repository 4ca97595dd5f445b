/** SHA-256 digests as hex, and the constant-time comparison of secrets, on node:crypto. @module */
import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Lowercase hex SHA-256 of bytes, or of a string's UTF-8 bytes.
 *
 * @example
 * ```ts
 * sha256Hex("abc"); // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
 * ```
 */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Whether two byte strings are equal, in time that depends only on their length: for MACs,
 * digests of secrets and anything else an attacker may probe byte by byte. Strings of different
 * lengths are unequal at once (the length is not secret).
 *
 * @example
 * ```ts
 * constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])); // true
 * ```
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
