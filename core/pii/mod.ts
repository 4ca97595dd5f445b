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
export {
  CARD_MAX_DIGITS,
  CARD_MIN_DIGITS,
  cardBrand,
  itinValid,
  luhnValid,
  ssnValid,
} from "./cards.ts";
export { hasSsnContext, SSN_CONTEXT_CHARS } from "./context.ts";
export {
  DEFAULT_MAX_JSON_DEPTH,
  type PiiKind,
  type PiiSpan,
  type ScanOptions,
  scanPii,
  type ScanResult,
  type SecretSpan,
} from "./scan.ts";
export {
  CARD_PLACEHOLDER,
  hasPiiSizedNumber,
  inspectText,
  installPiiLogScrubber,
  MIN_PII_CHARS,
  redactPiiNumbers,
  redactSpans,
  scrubJsonText,
  scrubPiiText,
  SSN_PLACEHOLDER,
  type TextInspection,
} from "./scrub.ts";
