/**
 * The reference the byte-level JSON object check is held to: a fatal UTF-8 decode, then
 * `JSON.parse`, then "a non-array, non-null object"; its answer as the check words it.
 * @module
 */
import { NOT_OBJECT, OBJECT_ASCII, OBJECT_UTF8 } from "../../../core/sidecar/json_bytes.ts";

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
