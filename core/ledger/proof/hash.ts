/**
 * RFC 6962 / RFC 9162 hashing: leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left ||
 * right), plus the parsing and comparison of hashes. Leaf and node hashes use the synchronous JavaScript SHA-256 in
 * core/crypto/sha256.ts: a full verify of a million entries does two million of them, and at these input
 * sizes a native call per hash (node:crypto, ~2-4 us) costs more than the hash itself
 * (WebCrypto's async digest costs ~40 us a call).
 * @module
 */
import { decodeHex, isHex } from "../../encoding/mod.ts";
import { sha256Js } from "../../crypto/mod.ts";

/** Domain-separation prefix for leaves. */
const LEAF_PREFIX = 0x00;
/** Domain-separation prefix for interior nodes. */
const NODE_PREFIX = 0x01;
/** Size of every hash in the tree. */
const HASH_SIZE = 32;

/** SHA-256 of bytes (key ids and the empty root: a few bytes each). */
export function sha256(data: Uint8Array): Uint8Array {
  return sha256Js(data);
}

// One contiguous input per hash, built in reused scratch (hashing is synchronous, so calls
// never interleave): no allocation but the 32-byte result.
const nodeInput = new Uint8Array(1 + 2 * HASH_SIZE);
nodeInput[0] = NODE_PREFIX;
let leafInput = new Uint8Array(1024);
let leafBody = leafInput.subarray(1);
const utf8 = new TextEncoder();

function leafScratch(bytes: number): Uint8Array {
  if (leafInput.length < bytes) {
    leafInput = new Uint8Array(Math.max(bytes, 2 * leafInput.length));
    leafBody = leafInput.subarray(1);
  }
  leafInput[0] = LEAF_PREFIX;
  return leafInput;
}

/** RFC 6962 leaf hash: SHA-256(0x00 || entry bytes). */
export function leafHash(entry: Uint8Array): Uint8Array {
  const input = leafScratch(1 + entry.length);
  input.set(entry, 1);
  return sha256Js(input, 1 + entry.length);
}

/** RFC 6962 leaf hash of a text's UTF-8 bytes: `leafHash(new TextEncoder().encode(text))`. */
export function leafHashOfText(text: string): Uint8Array {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit; a lone surrogate becomes U+FFFD (3 bytes),
  // exactly as TextEncoder.encode does.
  const input = leafScratch(1 + 3 * text.length);
  const { written } = utf8.encodeInto(text, leafBody);
  return sha256Js(input, 1 + written);
}

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    const input = new Uint8Array(1 + left.length + right.length);
    input[0] = NODE_PREFIX;
    input.set(left, 1);
    input.set(right, 1 + left.length);
    return sha256Js(input);
  }
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_SIZE);
  return sha256Js(nodeInput);
}

/** Root of the empty tree: SHA-256 of no bytes. */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/**
 * A hash given as hex text in untrusted input (a receipt, a proof, a state file): its 32 bytes,
 * or undefined when the value is anything else.
 * @example
 * ```ts
 * parseHash("00".repeat(32)); // 32 zero bytes
 * parseHash("abc"); // undefined
 * ```
 */
export function parseHash(value: unknown): Uint8Array | undefined {
  return typeof value === "string" && value.length === 2 * HASH_SIZE && isHex(value)
    ? decodeHex(value)
    : undefined;
}

/**
 * Equality of two public byte strings (hashes, roots, key ids). It returns at the first
 * difference, so it is not for secrets: compare those with `constantTimeEqual` (core/crypto),
 * which costs a native call per comparison, too much for a million-entry verify.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
