/**
 * RFC 6962 / RFC 9162 hashing: leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left ||
 * right), plus hex helpers. node:crypto is used because it hashes synchronously in ~2 us, which
 * a full verify of a million entries needs (WebCrypto's async digest costs ~40 us a call).
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

/** Domain-separation prefix for leaves. */
export const LEAF_PREFIX = 0x00;
/** Domain-separation prefix for interior nodes. */
export const NODE_PREFIX = 0x01;
/** Size of every hash in the tree. */
export const HASH_SIZE = 32;

function digest(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** SHA-256 of bytes. */
export function sha256(data: Uint8Array): Uint8Array {
  return digest(createHash("sha256").update(data).digest());
}

// One contiguous input per hash: every update() crosses into native code, and a full verify of
// a million entries does two million of these.
const nodeInput = new Uint8Array(1 + 2 * HASH_SIZE);
const NODE = new Uint8Array([NODE_PREFIX]);
nodeInput[0] = NODE_PREFIX;

/** RFC 6962 leaf hash: SHA-256(0x00 || entry bytes). */
export function leafHash(entry: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + entry.length);
  input[0] = LEAF_PREFIX;
  input.set(entry, 1);
  return digest(createHash("sha256").update(input).digest());
}

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    return digest(createHash("sha256").update(NODE).update(left).update(right).digest());
  }
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_SIZE);
  return digest(createHash("sha256").update(nodeInput).digest());
}

/** Root of the empty tree: SHA-256 of no bytes. */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** Lowercase hex of bytes. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Bytes of a hex string; undefined when it is not even-length hex. */
export function unhex(text: string): Uint8Array | undefined {
  if (typeof text !== "string" || !HEX.test(text)) return undefined;
  return digest(Buffer.from(text, "hex"));
}

/** Constant-structure equality of two byte strings. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
