/** Lowercase hexadecimal text of bytes, and bytes of hex text, on the runtime's own codec. @module */

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * Lowercase hex of `bytes`.
 *
 * @example
 * ```ts
 * encodeHex(new Uint8Array([0, 171, 255])); // "00abff"
 * ```
 */
export function encodeHex(bytes: Uint8Array): string {
  return bytes.toHex();
}

/**
 * The bytes of `text`, an even-length string of hex digits (either case).
 *
 * @throws {SyntaxError} when `text` has an odd length or a character that is not a hex digit
 * @example
 * ```ts
 * decodeHex("00abFF"); // Uint8Array [0, 171, 255]
 * ```
 */
export function decodeHex(text: string): Uint8Array<ArrayBuffer> {
  if (!HEX.test(text)) throw new SyntaxError("not an even-length string of hex digits");
  return Uint8Array.fromHex(text);
}

/**
 * Whether `text` is an even-length string of hex digits (what {@linkcode decodeHex} accepts).
 *
 * @example
 * ```ts
 * isHex("0a0B"); // true
 * isHex("abc"); // false
 * ```
 */
export function isHex(text: string): boolean {
  return HEX.test(text);
}
