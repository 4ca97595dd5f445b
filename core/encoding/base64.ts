/**
 * Base64 (RFC 4648 section 4) and base64url (section 5) on the runtime's own codec. The decoder
 * is forgiving in the ways every reader here has been: either alphabet, padding optional,
 * surrounding white space ignored.
 * @module
 */

/**
 * Base64 of `bytes`: standard alphabet, padded.
 *
 * @example
 * ```ts
 * encodeBase64(new Uint8Array([1, 2, 255, 254])); // "AQL//g=="
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

/**
 * Base64url of `bytes`: URL and file-name safe alphabet, no padding (what tokens carry).
 *
 * @example
 * ```ts
 * encodeBase64Url(new Uint8Array([1, 2, 255, 254])); // "AQL__g"
 * ```
 */
export function encodeBase64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/**
 * The bytes of base64 or base64url text (either alphabet, padding optional, surrounding white
 * space ignored).
 *
 * @throws {SyntaxError} when `text` is not base64 in either alphabet
 * @example
 * ```ts
 * decodeBase64("AQL//g=="); // Uint8Array [1, 2, 255, 254]
 * decodeBase64("AQL__g"); // the same bytes
 * ```
 */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const standard = text.trim().replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.fromBase64(standard, { lastChunkHandling: "loose" });
}
