/**
 * The shapes a PII scan takes and returns.
 * @module
 */
import type { SecretSpan } from "./secrets.ts";

export type { SecretSpan } from "./secrets.ts";

/** What a finding is. */
export type PiiKind = "credit_card" | "ssn";

/** One finding: `text.slice(start, end)` covers it, separators and escapes included. */
export interface PiiSpan {
  kind: PiiKind;
  start: number;
  end: number;
  /** False for a bare JSON number (its redaction must become a JSON string). */
  inString: boolean;
}

/** What a scan found. Spans are sorted and never overlap; secrets too (PII may lie inside). */
export interface ScanResult {
  creditCards: number;
  ssns: number;
  spans: PiiSpan[];
  /** Values under secret keys (JSON mode with {@linkcode ScanOptions.secretKey}). */
  secrets: SecretSpan[];
  /** Deepest JSON nesting seen (JSON mode). */
  maxDepth: number;
  /** True when nesting exceeded the limit; the scan stopped there. */
  tooDeep: boolean;
  /**
   * With {@linkcode ScanOptions.checkObject}: whether the text is one JSON object, as a fatal
   * UTF-8 decoder and `JSON.parse` would read it (false also where the check cannot vouch for
   * it: a byte order mark, nesting deeper than 256, a scan stopped for depth). The findings
   * are complete only when it is true.
   */
  object?: boolean;
  /** With {@linkcode ScanOptions.checkObject}, for an object: it holds bytes beyond ASCII. */
  wide?: boolean;
}

/** Options for {@linkcode scanPii}. */
export interface ScanOptions {
  /** Treat the text as JSON: track strings and nesting depth. */
  json?: boolean;
  /**
   * JSON mode: also check, in the same walk, that the text is one JSON object (see
   * {@linkcode ScanResult.object}); the walk stops where it is not.
   */
  checkObject?: boolean;
  /** Deepest nesting accepted in JSON mode before the scan stops. */
  maxDepth?: number;
  /**
   * JSON mode: true for a member name whose value is secret (its escapes decoded); such values
   * are reported in {@linkcode ScanResult.secrets}, except `true`, `false` and `null`.
   */
  secretKey?: (key: string) => boolean;
  /**
   * Plain text mode: where the text came from, e.g. the member name it was the value of. A bare
   * 9-digit number is an SSN only with SSN context; this counts as context too.
   */
  context?: string;
}
