/**
 * Redaction of payment cards and SSNs found by {@linkcode scanPii}, for raw JSON text (bare
 * numbers become JSON strings, so the result stays valid JSON) and for plain text; plus the
 * process-wide log hook so no card or SSN ever reaches a log line.
 * @module
 */
import { addScrubber } from "../log/mod.ts";
import { type PiiSpan, scanPii, type ScanResult } from "./scan.ts";

/** Placeholder for a redacted payment card (spec IATP-001 §5.4). */
export const CARD_PLACEHOLDER = "[CREDIT_CARD_REDACTED]";
/** Placeholder for a redacted US SSN (spec IATP-001 §5.4). */
export const SSN_PLACEHOLDER = "[SSN_REDACTED]";

function placeholder(span: PiiSpan): string {
  return span.kind === "credit_card" ? CARD_PLACEHOLDER : SSN_PLACEHOLDER;
}

/**
 * Rewrites `text` with every span replaced. In JSON text a bare number span (and its minus
 * sign) becomes a quoted placeholder so the document still parses.
 */
export function redactSpans(text: string, spans: readonly PiiSpan[]): string {
  if (spans.length === 0) return text;
  let out = "";
  let last = 0;
  for (const span of spans) {
    let start = span.start;
    let replacement = placeholder(span);
    if (!span.inString) {
      if (start > 0 && text.charCodeAt(start - 1) === 45) start--;
      replacement = `"${replacement}"`;
    }
    out += text.slice(last, start) + replacement;
    last = span.end;
  }
  return out + text.slice(last);
}

/** Scans JSON text and returns the scan plus the redacted text (the same string when clean). */
export function scrubJsonText(
  text: string,
  maxDepth?: number,
): { scan: ScanResult; text: string } {
  const scan = scanPii(text, { json: true, maxDepth });
  return { scan, text: redactSpans(text, scan.spans) };
}

/** Redacts cards and SSNs in plain text. */
export function scrubPiiText(text: string): string {
  // Fast exit: nothing shorter than 9 characters can hold an SSN or a card.
  if (text.length < 9) return text;
  return redactSpans(text, scanPii(text).spans);
}

/** Registers {@linkcode scrubPiiText} with the log scrubber (idempotent). */
export function installPiiLogScrubber(): void {
  addScrubber(scrubPiiText);
}

// Importing the PII module is enough to keep cards and SSNs out of every log line.
installPiiLogScrubber();
