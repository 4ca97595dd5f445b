/**
 * The `/proxy` body: checked to be a JSON object (on its bytes when that can be told there, else
 * decoded and parsed, which also words the refusal) and scanned for cards, SSNs and secret
 * members, whose redacted copy is what the recorder keeps.
 * @module
 */
import { scrubJsonObjectBytes, scrubJsonText } from "../pii/mod.ts";
import type { Parsed } from "./record.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Checks and scans the body: what it holds and its scrubbed text, or the reason for a 400.
 * `remember`: a clean body is remembered for the scrub of its record (see `scrubJsonObjectBytes`).
 *
 * @example
 * ```ts
 * parseObject(new TextEncoder().encode('{"a":1}'), 64); // { scrubbed: undefined, clean: true, ... }
 * parseObject(new TextEncoder().encode("[1]"), 64); // { invalid: "body is not a JSON object" }
 * ```
 */
export function parseObject(
  bytes: Uint8Array<ArrayBuffer>,
  maxDepth: number,
  remember = true,
): Parsed | { invalid: string } {
  // One walk checks that the body is one JSON object and scans it: no string or object is
  // built unless the scan finds something to redact.
  const fast = scrubJsonObjectBytes(bytes, maxDepth, remember);
  if (fast !== undefined) {
    const { scan, text } = fast;
    return {
      scrubbed: text,
      clean: text === undefined,
      card: scan.creditCards > 0,
      ssn: scan.ssns > 0,
    };
  }
  return parseObjectText(bytes, maxDepth);
}

function tooDeep(maxDepth: number): string {
  return `nesting deeper than ${maxDepth} levels`;
}

/** {@linkcode parseObject} the long way (decoding, then parsing): it also words the refusal. */
function parseObjectText(
  bytes: Uint8Array<ArrayBuffer>,
  maxDepth: number,
): Parsed | { invalid: string } {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { invalid: "body is not UTF-8" };
  }
  // The scan reads the body's bytes (no second encoding of the text).
  const { scan, text: scrubbed } = scrubJsonText(text, maxDepth, bytes);
  if (scan.tooDeep) return { invalid: tooDeep(maxDepth) };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { invalid: "body is not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { invalid: "body is not a JSON object" };
  }
  const clean = scrubbed === text;
  return { scrubbed, clean, card: scan.creditCards > 0, ssn: scan.ssns > 0 };
}
