/**
 * Encodings shared by every module: hex, base64 and base64url, and RFC 8785 canonical JSON
 * (the one canonical form: ledger entries, signed manifests).
 *
 * @example
 * ```ts
 * import { canonicalize, decodeBase64, encodeBase64Url, encodeHex } from "./mod.ts";
 * encodeHex(new Uint8Array([255])); // "ff"
 * encodeBase64Url(decodeBase64("AQL//g==")); // "AQL__g"
 * canonicalize({ b: 1, a: 2 }); // '{"a":2,"b":1}'
 * ```
 * @module
 */
export { decodeBase64, encodeBase64, encodeBase64Url } from "./base64.ts";
export { canonicalize, CanonicalJsonError, MAX_CANONICAL_DEPTH } from "./canonical_json.ts";
export { decodeHex, encodeHex, isHex } from "./hex.ts";
