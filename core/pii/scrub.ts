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

/**
 * The last text a complete JSON-mode scan found clean. A JSON-mode scan that runs to the end
 * goes through exactly the same chain states as a plain-text scan of the same string (JSON
 * mode only adds string and nesting bookkeeping and the early stop when too deep), so it finds
 * the same windows: this text is clean for {@linkcode scrubPiiText} too. That spares the
 * second scan when a clean JSON body is recorded and its record goes through the log
 * scrubber.
 */
let lastCleanJson: string | undefined;

/** Scans JSON text and returns the scan plus the redacted text (the same string when clean). */
export function scrubJsonText(
  text: string,
  maxDepth?: number,
): { scan: ScanResult; text: string } {
  const scan = scanPii(text, { json: true, maxDepth });
  if (scan.spans.length === 0 && !scan.tooDeep) lastCleanJson = text;
  return { scan, text: redactSpans(text, scan.spans) };
}

/** Redacts cards and SSNs in plain text. */
export function scrubPiiText(text: string): string {
  // Fast exit: nothing shorter than 9 characters can hold an SSN or a card.
  if (text.length < 9 || text === lastCleanJson) return text;
  return redactSpans(text, scanPii(text).spans);
}

/** Deepest nesting {@linkcode redactPiiNumbers} walks (the log scrubber's own bound is lower). */
const MAX_WALK_DEPTH = 64;

/**
 * Replaces numbers that are cards or SSNs (`4532015112830366`) with their placeholder strings,
 * in a deep copy of a JSON-like value. The log scrubber only sees strings; this covers numbers.
 */
export function redactPiiNumbers(value: unknown, depth = 0): unknown {
  if (typeof value === "number") {
    // Only integers of 9 to 19 digits can be either; everything else is returned as is.
    if (!Number.isInteger(value) || Math.abs(value) < 1e8) return value;
    const spans = scanPii(String(Math.abs(value))).spans;
    return spans.length === 0 ? value : placeholder(spans[0]);
  }
  if (value === null || typeof value !== "object" || depth >= MAX_WALK_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => redactPiiNumbers(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactPiiNumbers(v, depth + 1);
  return out;
}

/**
 * True when {@linkcode redactPiiNumbers} would change something in `value`: an integer of
 * 9 digits or more within its walk depth. Allocates nothing.
 */
export function hasPiiSizedNumber(value: unknown, depth = 0): boolean {
  if (typeof value === "number") return Number.isInteger(value) && Math.abs(value) >= 1e8;
  if (value === null || typeof value !== "object" || depth >= MAX_WALK_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (hasPiiSizedNumber(value[i], depth + 1)) return true;
    }
    return false;
  }
  for (const k in value) {
    if (
      Object.hasOwn(value, k) &&
      hasPiiSizedNumber((value as Record<string, unknown>)[k], depth + 1)
    ) return true;
  }
  return false;
}

/** Registers {@linkcode scrubPiiText} with the log scrubber (idempotent). */
export function installPiiLogScrubber(): void {
  addScrubber(scrubPiiText);
}

// Importing the PII module is enough to keep cards and SSNs out of every log line.
installPiiLogScrubber();
