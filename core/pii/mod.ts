/**
 * Payment card and US SSN detection over raw text and raw JSON, and their redaction.
 * Importing this module also installs the PII log scrubber (see {@linkcode installPiiLogScrubber}).
 *
 * @example
 * ```ts
 * import { scrubJsonText } from "./mod.ts";
 * const { scan, text } = scrubJsonText('{"card":4532015112830366}');
 * // scan.creditCards === 1, text === '{"card":"[CREDIT_CARD_REDACTED]"}'
 * ```
 * @module
 */
export { wordView } from "./chars.ts";
export { DEFAULT_MAX_JSON_DEPTH } from "./scan.ts";
export { scanJsonObjectBytes, scanPii } from "./text.ts";
export {
  hasPiiSizedNumber,
  inspectText,
  MIN_PII_CHARS,
  redactPiiNumbers,
  scrubJsonObjectBytes,
  scrubJsonText,
  type TextInspection,
} from "./scrub.ts";
export type { SecretSpan } from "./secrets.ts";
export type { PiiKind, PiiSpan, ScanOptions, ScanResult } from "./types.ts";
