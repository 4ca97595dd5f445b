/**
 * The reference the PII scan's check that a body is one JSON object is held to: a fatal UTF-8 decode, then
 * `JSON.parse`, then "a non-array, non-null object"; its answer as the check words it.
 * @module
 */
/** Not a JSON object, or not sure (the caller decodes and parses to find out which). */
export const NOT_OBJECT = -1;
/** A JSON object, all ASCII. */
export const OBJECT_ASCII = 0;
/** A JSON object holding characters beyond ASCII (in its strings). */
export const OBJECT_UTF8 = 1;

import { scanUtf8 } from "../../../core/pii/scan.ts";
import { scanJsonObjectBytes } from "../../../core/pii/text.ts";
import type { ScanResult } from "../../../core/pii/types.ts";

/** The fatal decoder of the reference. */
export const fatal = new TextDecoder("utf-8", { fatal: true });
/** UTF-8 encoding of test inputs. */
export const utf8 = new TextEncoder();

/** What decoding and parsing say about `b`: the check's answer when it is sure. */
export function reference(b: Uint8Array): number {
  let text: string;
  try {
    text = fatal.decode(b);
  } catch {
    return NOT_OBJECT;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return NOT_OBJECT;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return NOT_OBJECT;
  return b.some((x) => x >= 0x80) ? OBJECT_UTF8 : OBJECT_ASCII;
}

/** Member names the checks below call secret (so predicted names are passed whole too). */
const secretKey = (k: string) => /pass|token|secret|key/i.test(k);

/**
 * What the PII scan's walk says of `b` (see `ScanOptions.checkObject`), worded as
 * {@linkcode reference} words it: by its fast path and by its full state machine, which must
 * agree. The scan's own depth limit is set out of the way: the check's limit is its own.
 */
export function objectShape(b: Uint8Array): number {
  const opts = { json: true, checkObject: true, maxDepth: 100_000, secretKey } as const;
  const fast = scanJsonObjectBytes(b, opts);
  const shape = fast === undefined ? NOT_OBJECT : fast.wide ? OBJECT_UTF8 : OBJECT_ASCII;
  const slow = scanUtf8(b, b.length, opts, false, false);
  const slowShape = slow.object && !slow.tooDeep
    ? (slow.wide ? OBJECT_UTF8 : OBJECT_ASCII)
    : NOT_OBJECT;
  if (shape !== slowShape) {
    throw new Error(`fast path ${shape}, state machine ${slowShape}: ${JSON.stringify([...b])}`);
  }
  if (fast !== undefined) {
    // Both walks find the same: cards, SSNs and secret members (the slow one in byte offsets).
    const fastFound = JSON.stringify([fast.creditCards, fast.ssns, fast.maxDepth]);
    const slowFound = JSON.stringify([slow.creditCards, slow.ssns, slow.maxDepth]);
    if (fastFound !== slowFound || (!fast.wide && !sameSpans(fast, slow))) {
      throw new Error(`fast path found ${fastFound}, state machine ${slowFound}: ${[...b]}`);
    }
  }
  return shape;
}

function sameSpans(a: ScanResult, b: ScanResult): boolean {
  return JSON.stringify([a.spans, a.secrets]) === JSON.stringify([b.spans, b.secrets]);
}
