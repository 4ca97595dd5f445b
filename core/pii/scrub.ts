/**
 * Redaction of payment cards and SSNs found by {@linkcode scanPii}, for raw JSON text (bare
 * numbers become JSON strings, so the result stays valid JSON) and for plain text, plus the
 * values of secret members (password, token, api_key, ... as the log scrubber defines them)
 * in JSON text; and the process-wide log hook so no card or SSN ever reaches a log line.
 * @module
 */
import { addScrubber, isSensitiveKey, REDACTED } from "../log/mod.ts";
import type { PiiSpan, ScanResult, SecretSpan } from "./types.ts";
import { scanJsonObjectBytes, scanPii } from "./text.ts";

/** Placeholder for a redacted payment card (spec IATP-001 §5.4). */
export const CARD_PLACEHOLDER = "[CREDIT_CARD_REDACTED]";
/** Placeholder for a redacted US SSN (spec IATP-001 §5.4). */
export const SSN_PLACEHOLDER = "[SSN_REDACTED]";

function placeholder(span: PiiSpan): string {
  return span.kind === "credit_card" ? CARD_PLACEHOLDER : SSN_PLACEHOLDER;
}

/** What a secret value becomes in JSON text (a JSON string, whatever the value was). */
const SECRET_REPLACEMENT = `"${REDACTED}"`;

/**
 * Rewrites `text` with every span replaced. In JSON text a bare number span (and its minus
 * sign) becomes a quoted placeholder so the document still parses. A secret value (JSON text)
 * becomes the string `"[REDACTED]"`, PII inside it included.
 *
 * @example
 * ```ts
 * const text = '{"password":"hunter2","card":"4532015112830366"}';
 * const scan = scanPii(text, { json: true, secretKey: (k) => k === "password" });
 * redactSpans(text, scan.spans, scan.secrets);
 * // '{"password":"[REDACTED]","card":"[CREDIT_CARD_REDACTED]"}'
 * ```
 */
function redactSpans(
  text: string,
  spans: readonly PiiSpan[],
  secrets: readonly SecretSpan[] = [],
): string {
  if (spans.length === 0 && secrets.length === 0) return text;
  let out = "";
  let last = 0;
  let p = 0;
  for (let s = 0; s <= secrets.length; s++) {
    const secret = s < secrets.length ? secrets[s] : undefined;
    const until = secret?.start ?? text.length;
    for (; p < spans.length && spans[p].end <= until; p++) {
      const span = spans[p];
      let start = span.start;
      let replacement = placeholder(span);
      if (!span.inString) {
        if (start > last && text.charCodeAt(start - 1) === 45) start--;
        replacement = `"${replacement}"`;
      }
      out += text.slice(last, start) + replacement;
      last = span.end;
    }
    if (secret === undefined) break;
    let start = secret.start;
    let end = secret.end;
    // PII overlapping the secret value goes with it.
    for (; p < spans.length && spans[p].start < end; p++) {
      start = Math.min(start, spans[p].start);
      end = Math.max(end, spans[p].end);
    }
    out += text.slice(last, Math.max(last, start)) + SECRET_REPLACEMENT;
    last = Math.max(last, end);
  }
  return out + text.slice(last);
}

/**
 * The last text a complete JSON-mode scan found clean. A JSON-mode scan that runs to the end
 * goes through the same chain states as a plain-text scan of the same string (JSON mode only
 * adds string and nesting bookkeeping and the early stop when too deep), so it finds the same
 * cards and separated SSNs; for a bare 9-digit number it judges SSN context by the member name
 * the number belongs to, which is what the text means, so its verdict stands for
 * {@linkcode scrubPiiText} too. That spares the second scan when a clean JSON body is recorded
 * and its record goes through the log scrubber.
 */
let lastCleanJson: string | undefined;
/**
 * The last UTF-8 body a complete JSON-mode scan of bytes found clean, not decoded yet: it
 * becomes {@linkcode lastCleanJson} when a scrub first needs it (so a body nobody scrubs again
 * is never decoded). A copy in {@linkcode cleanCopy}: the caller may reuse its buffer.
 */
let lastCleanUtf8: Uint8Array | undefined;
/** Largest body remembered as clean (a longer one is recorded cut short, so it never matches). */
const CLEAN_COPY_BYTES = 32 * 1024;
/** Where {@linkcode lastCleanUtf8} is kept (allocated once, when first needed). */
let cleanCopy: Uint8Array | undefined;

/** Remembers `utf8` as the last clean body (a copy), or forgets the last one when too long. */
function rememberCleanUtf8(utf8: Uint8Array): void {
  lastCleanJson = undefined;
  if (utf8.length > CLEAN_COPY_BYTES) {
    lastCleanUtf8 = undefined;
    return;
  }
  cleanCopy ??= new Uint8Array(CLEAN_COPY_BYTES);
  cleanCopy.set(utf8);
  lastCleanUtf8 = cleanCopy.subarray(0, utf8.length);
}
/** {@linkcode lastCleanUtf8} is all ASCII: its text has exactly as many characters as bytes. */
let lastCleanAscii = false;
const utf8Decoder = new TextDecoder();

/**
 * Scans JSON text and returns the scan plus the redacted text (the same string when clean):
 * cards and SSNs become placeholders and the value of every secret member (a key
 * {@linkcode isSensitiveKey} accepts, at any depth) becomes `"[REDACTED]"`, in one pass.
 * `utf8`, when the caller has it, is the UTF-8 body `text` was decoded from: the scan reads it
 * instead of encoding `text` again (see {@linkcode scanPii}).
 */
export function scrubJsonText(
  text: string,
  maxDepth?: number,
  utf8?: Uint8Array,
): { scan: ScanResult; text: string } {
  const scan = scanPii(text, { json: true, maxDepth, secretKey: isSensitiveKey }, utf8);
  if (scan.spans.length === 0 && !scan.tooDeep) {
    lastCleanJson = text;
    lastCleanUtf8 = undefined;
  }
  return { scan, text: redactSpans(text, scan.spans, scan.secrets) };
}

/**
 * {@linkcode scrubJsonText} for a body held as UTF-8 bytes, checking in the same walk that they
 * are one JSON object, and without decoding them unless something must be redacted: the scan
 * and `text`, the redacted text, or undefined when nothing was (the bytes are then what would be
 * kept). Undefined instead when the bytes are not one JSON object (as a fatal UTF-8 decoder and
 * `JSON.parse` read them), the check cannot vouch for them, or nesting is deeper than
 * `maxDepth`: the caller then decodes, scrubs and parses the text the long way
 * ({@linkcode scrubJsonText}, `JSON.parse`), which also words the refusal. `remember`: a clean
 * body is copied for {@linkcode scrubPiiText} to tell its text without a second scan; worth it
 * only when that text is scrubbed before the next body is scanned (a flight recorder that hands
 * each record on at once).
 *
 * @example
 * ```ts
 * const body = new TextEncoder().encode('{"password":"hunter2","n":1}');
 * scrubJsonObjectBytes(body)?.text; // '{"password":"[REDACTED]","n":1}'
 * scrubJsonObjectBytes(new TextEncoder().encode('{"a":01}')); // undefined
 * ```
 */
export function scrubJsonObjectBytes(
  utf8: Uint8Array,
  maxDepth?: number,
  remember = true,
): { scan: ScanResult; text: string | undefined } | undefined {
  const opts = { json: true, checkObject: true, maxDepth, secretKey: isSensitiveKey } as const;
  const scan = scanJsonObjectBytes(utf8, opts);
  if (scan === undefined) return undefined;
  if (remember && scan.spans.length === 0) {
    rememberCleanUtf8(utf8);
    lastCleanAscii = !scan.wide;
  }
  if (scan.spans.length === 0 && scan.secrets.length === 0) return { scan, text: undefined };
  return { scan, text: redactSpans(utf8Decoder.decode(utf8), scan.spans, scan.secrets) };
}

/** Whether `text` is the last JSON text a complete scan found clean (decoding it if need be). */
function isLastCleanJson(text: string): boolean {
  const bytes = lastCleanUtf8;
  if (bytes !== undefined) {
    // A string is never longer (in UTF-16 units) than its UTF-8 bytes, and as long when they
    // are ASCII: other texts (log fields) are told apart without decoding the body.
    if (lastCleanAscii ? text.length !== bytes.length : text.length > bytes.length) return false;
    lastCleanJson = utf8Decoder.decode(bytes);
    lastCleanUtf8 = undefined;
  }
  return text === lastCleanJson;
}

/** Shortest text that can hold a card or an SSN (an SSN has 9 digits, a card 12 or more). */
export const MIN_PII_CHARS = 9;

/**
 * Redacts cards and SSNs in plain text. `key`, the member name the text was the value of, is
 * SSN context for a bare 9-digit number (`{"ssn": "078051120"}`).
 */
export function scrubPiiText(text: string, key?: string): string {
  if (text.length < MIN_PII_CHARS || isLastCleanJson(text)) return text;
  return redactSpans(text, scanPii(text, { context: key }).spans);
}

/** What {@linkcode inspectText} found: whether there were cards or SSNs, and the redacted text. */
export interface TextInspection {
  card: boolean;
  ssn: boolean;
  /** `text` with cards and SSNs replaced (the same string when none were found). */
  text: string;
}

const CLEAN: Omit<TextInspection, "text"> = { card: false, ssn: false };

/**
 * Scans plain text for cards and SSNs and redacts them, in one call.
 *
 * @example
 * ```ts
 * inspectText("ssn 078-05-1120"); // { card: false, ssn: true, text: "ssn [SSN_REDACTED]" }
 * ```
 */
export function inspectText(text: string): TextInspection {
  if (text.length < MIN_PII_CHARS) return { ...CLEAN, text };
  const scan = scanPii(text);
  if (scan.spans.length === 0) return { ...CLEAN, text };
  return {
    card: scan.creditCards > 0,
    ssn: scan.ssns > 0,
    text: redactSpans(text, scan.spans),
  };
}

/** Deepest nesting {@linkcode redactPiiNumbers} walks (the log scrubber's own bound is lower). */
const MAX_WALK_DEPTH = 64;

/**
 * Replaces numbers that are cards or SSNs (`4532015112830366`, or `78051120` under an `ssn`
 * key) with their placeholder strings, in a deep copy of a JSON-like value. The log scrubber
 * only sees strings; this covers numbers. `key` is the member name holding `value` (an array
 * passes its own down to its items).
 */
export function redactPiiNumbers(value: unknown, depth = 0, key?: string): unknown {
  if (typeof value === "number") {
    // Only integers of 9 to 19 digits can be either; everything else is returned as is.
    if (!Number.isInteger(value) || Math.abs(value) < 1e8) return value;
    const spans = scanPii(String(Math.abs(value)), { context: key }).spans;
    return spans.length === 0 ? value : placeholder(spans[0]);
  }
  if (value === null || typeof value !== "object" || depth >= MAX_WALK_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => redactPiiNumbers(v, depth + 1, key));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactPiiNumbers(v, depth + 1, k);
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
function installPiiLogScrubber(): void {
  addScrubber(scrubPiiText);
}

// Importing the PII module is enough to keep cards and SSNs out of every log line.
installPiiLogScrubber();
