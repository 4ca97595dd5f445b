/**
 * One-pass, linear-time detection of payment cards and US SSNs in raw text or raw JSON text.
 *
 * No regular expressions: a small state machine walks the characters once, collects runs of
 * digits ("groups") joined by single spaces or hyphens ("chains"), and checks every window of
 * at most six groups that could be a card (12-19 digits, brand prefix, Luhn) or an SSN. An SSN
 * is a 3-2-4 chain with one separator (always: SSNs and ITINs alike, as every IATP client
 * counts them), or a bare 9-digit run that is an issued SSN or an ITIN and has SSN context: a
 * JSON member name or the few characters before it naming an SSN (see context.ts), so an
 * `order_id` of nine digits is not one. Work per character is bounded by a constant, so a
 * megabyte of adversarial digits and separators costs the same as a megabyte of prose.
 *
 * JSON mode also decodes string escapes (`\u0034` is a `4`), tells string contents from bare
 * numbers (the scrubber must quote a redacted number) and tracks nesting depth. Given a key
 * rule, it also reports the value of every member whose key the rule calls secret (a string,
 * number, object or array, whole), in the same pass.
 * @module
 */
import {
  CARD_MAX_DIGITS,
  CARD_MIN_DIGITS,
  cardBrand,
  itinValid,
  luhnValid,
  ssnValid,
} from "./cards.ts";
import * as chars from "./chars.ts";
import { isWordChar, jsonEscape } from "./chars.ts";
import { hasSsnContext, keyNamesSsn, SSN_CONTEXT_CHARS } from "./context.ts";
import { SecretTracker } from "./secrets.ts";
import type { PiiKind, PiiSpan, ScanOptions, ScanResult } from "./types.ts";

export type { PiiKind, PiiSpan, ScanOptions, ScanResult, SecretSpan } from "./types.ts";

/** Default bound on JSON nesting depth. */
export const DEFAULT_MAX_JSON_DEPTH = 64;

// Module-local copies: the state machine reads them for every character, and V8 folds local
// constants where it reads imported bindings through the module record.
const SPACE = chars.SPACE;
const HYPHEN = chars.HYPHEN;
const DOT = chars.DOT;
const PLUS = chars.PLUS;
const BACKSLASH = chars.BACKSLASH;
const QUOTE = chars.QUOTE;
const BORING_JSON = chars.BORING_JSON;
const BORING_TEXT = chars.BORING_TEXT;

const IDLE = 0;
const IN_GROUP = 1;
const AFTER_SEP = 2;
const AFTER_DOT = 3;
/** Groups remembered per chain: the longest card window has six groups (4+3+3+3+3+3). */
const RING = 8;
const MASK = RING - 1;
/** Digits kept per group; longer groups can never be part of a card or SSN. */
const KEEP = CARD_MAX_DIGITS;
/** The state machine; one instance is reused because scans are synchronous. */
class Scanner {
  text = "";
  json = false;
  depthLimit = DEFAULT_MAX_JSON_DEPTH;
  spans: PiiSpan[] = [];
  /** Set when secret members are tracked (JSON mode with a key rule). */
  secrets: SecretTracker | undefined = undefined;
  readonly tracker = new SecretTracker();
  /** Index of the opening quote of the current (or last) string. */
  strStart = 0;
  /** Extra SSN context for plain text (the member name a value came from). */
  context: string | undefined = undefined;
  cards = 0;
  ssns = 0;
  inString = false;
  depth = 0;
  maxDepth = 0;
  tooDeep = false;
  state = IDLE;
  sep = 0;
  prev = 0;
  // Group ring: absolute group counter `g`, slot `g & MASK`.
  g = 0;
  chainFirst = 0;
  chainTainted = false;
  chainInString = false;
  readonly gStart = new Int32Array(RING);
  readonly gEnd = new Int32Array(RING);
  readonly gLen = new Int32Array(RING);
  readonly gLink = new Int32Array(RING);
  readonly gDigits = new Uint8Array(RING * KEEP);
  readonly window = new Uint8Array(KEEP);

  reset(text: string, opts: ScanOptions): void {
    this.text = text;
    this.json = opts.json ?? false;
    this.context = opts.context;
    this.depthLimit = opts.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
    this.spans = [];
    this.secrets = undefined;
    if (this.json && opts.secretKey !== undefined) {
      this.tracker.reset(text, opts.secretKey);
      this.secrets = this.tracker;
    }
    this.cards =
      this.ssns =
      this.depth =
      this.maxDepth =
      this.sep =
      this.prev =
        0;
    this.inString =
      this.tooDeep =
      this.chainTainted =
      this.chainInString =
        false;
    this.state = IDLE;
    this.g = this.chainFirst = 0;
  }

  run(): void {
    const text = this.text;
    const n = text.length;
    const boring = this.json ? BORING_JSON : BORING_TEXT;
    let i = 0;
    while (i < n) {
      let c = text.charCodeAt(i);
      if (this.state === IDLE && (c >= 128 || boring[c] === 1)) {
        // Fast path: outside a chain most characters change nothing but `prev`.
        do i++; while (i < n && ((c = text.charCodeAt(i)) >= 128 || boring[c] === 1));
        this.prev = text.charCodeAt(i - 1);
        if (i >= n) break;
      }
      if (c >= 48 && c <= 57) {
        if (this.state !== IN_GROUP) this.startGroup(i);
        i = this.digits(i);
        continue;
      }
      let next = i + 1;
      let escaped = false;
      if (c === BACKSLASH && next < n) {
        const e = jsonEscape(text, i);
        if (e >= 0) {
          c = e;
          next = i + (text.charCodeAt(next) === 117 ? 6 : 2);
          escaped = true;
        }
      }
      if (c >= 48 && c <= 57) {
        if (this.state !== IN_GROUP) this.startGroup(i);
        this.addDigit(c - 48, next);
      } else {
        if (this.state !== IDLE) this.afterGroup(c);
        if (this.json && !escaped && !this.structure(c, i)) return;
      }
      this.prev = c;
      i = next;
    }
    this.finish();
  }

  /** Consumes a run of plain ASCII digits into the current group; returns the index after it. */
  digits(from: number): number {
    const text = this.text;
    const n = text.length;
    const slot = this.g & MASK;
    const base = slot * KEEP;
    const store = this.gDigits;
    let len = this.gLen[slot];
    let i = from;
    let c = text.charCodeAt(i);
    do {
      if (len < KEEP) store[base + len] = c - 48;
      len++;
      if (++i >= n) break;
      c = text.charCodeAt(i);
    } while (c >= 48 && c <= 57);
    this.gLen[slot] = len;
    this.gEnd[slot] = i;
    this.prev = 48;
    return i;
  }

  /** JSON strings and nesting at index `i`; false stops the scan (nesting too deep). */
  structure(c: number, i: number): boolean {
    if (c === QUOTE) {
      if (!this.inString) {
        this.inString = true;
        this.strStart = i;
      } else {
        this.inString = false;
        this.secrets?.stringClosed(this.strStart, i, this.depth);
      }
    } else if (!this.inString) {
      if (c === 123 || c === 91) {
        if (++this.depth > this.maxDepth) this.maxDepth = this.depth;
        if (this.depth > this.depthLimit) {
          this.tooDeep = true;
          this.state = IDLE;
          return false;
        }
      } else if (c === 125 || c === 93) {
        this.depth--;
        this.secrets?.nestingClosed(this.depth, i);
      }
    }
    return true;
  }

  startGroup(at: number): void {
    let link = 0;
    if (this.state === AFTER_SEP) {
      link = this.sep;
    } else {
      // A digit right after a letter, `_` or `+` (IBAN, hex id, phone) or after `<digit>.`
      // (decimal, version, IP) starts a chain that is never a card or an SSN.
      this.chainTainted = this.state === AFTER_DOT || isWordChar(this.prev) ||
        this.prev === PLUS;
      this.chainFirst = this.g + 1;
      this.chainInString = this.inString;
    }
    const slot = ++this.g & MASK;
    this.gStart[slot] = at;
    this.gLen[slot] = 0;
    this.gLink[slot] = link;
    this.state = IN_GROUP;
  }

  addDigit(v: number, end: number): void {
    const slot = this.g & MASK;
    const len = this.gLen[slot];
    if (len < KEEP) this.gDigits[slot * KEEP + len] = v;
    this.gLen[slot] = len + 1;
    this.gEnd[slot] = end;
  }

  /**
   * A non-digit after a group, or after a separator or dot that followed one. A group is
   * judged once the group after it is complete (or the chain ended), because whether it can
   * end a card depends on its neighbour.
   */
  afterGroup(c: number): void {
    const j = this.g;
    if (this.state === IN_GROUP) {
      const slot = j & MASK;
      if (this.gLink[slot] !== 0) this.evaluate(j - 1, this.gLink[slot], this.gLen[slot]);
      if (c === SPACE || c === HYPHEN) {
        this.state = AFTER_SEP;
        this.sep = c;
        return;
      }
      if (c === DOT) {
        this.state = AFTER_DOT;
        return;
      }
      // A letter straight after the digits: part of a code or a unit, not a number on its own.
      if (!isWordChar(c)) this.evaluate(j, 0, 0);
    } else {
      this.evaluate(j, 0, 0);
    }
    this.state = IDLE;
  }

  /** Judges the last group when the text ends inside a chain. */
  finish(): void {
    if (this.state === IN_GROUP || this.state === AFTER_DOT || this.state === AFTER_SEP) {
      this.afterGroup(SPACE);
      if (this.state === AFTER_SEP) this.afterGroup(0);
    }
    this.secrets?.finish();
  }

  /**
   * Checks every window that ends at group `j`. `next` is the separator linking `j` to the
   * following group (0 when the chain ends) and `nextLen` that group's length.
   */
  evaluate(j: number, next: number, nextLen: number): void {
    if (this.chainTainted) return;
    const slot = j & MASK;
    const len = this.gLen[slot];
    const link = this.gLink[slot];
    if (len >= CARD_MIN_DIGITS && len <= CARD_MAX_DIGITS) this.tryCard(j, j, len);
    if (len === 9 && link === 0 && next === 0) this.tryBareSsn(j);
    if (len < 3 || len > 6 || link === 0) return;
    if (len === 4) this.trySeparatedSsn(j, link, next);
    // A card written in groups is the whole run of its separator: a card-sized group right
    // before or after the window means the window is a slice of some longer number.
    if (next === link && nextLen >= 3 && nextLen <= 6) return;
    let total = len;
    for (let k = j - 1; k >= this.chainFirst && k > j - RING; k--) {
      const lk = this.gLen[k & MASK];
      total += lk;
      if (total > CARD_MAX_DIGITS) return;
      const sameBefore = k > this.chainFirst && this.gLink[k & MASK] === link;
      if (lk === 4 && total >= CARD_MIN_DIGITS && !(sameBefore && this.fits(k - 1))) {
        this.tryCard(k, j, total);
      }
      if (lk < 3 || lk > 6 || !sameBefore) return;
    }
  }

  /** True when group `k` has the length of a card group (3 to 6 digits). */
  fits(k: number): boolean {
    const len = this.gLen[k & MASK];
    return len >= 3 && len <= 6;
  }

  trySeparatedSsn(j: number, link: number, next: number): void {
    if (next === link || j - 2 < this.chainFirst) return;
    const mid = (j - 1) & MASK;
    const first = (j - 2) & MASK;
    if (this.gLen[mid] !== 2 || this.gLink[mid] !== link || this.gLen[first] !== 3) return;
    if (this.gLink[first] === link) return;
    this.addSsn(j - 2, j);
  }

  /** Copies the digits of groups `from..to` into the scratch window; returns the count. */
  collect(from: number, to: number): number {
    let n = 0;
    for (let k = from; k <= to; k++) {
      const slot = k & MASK;
      const len = this.gLen[slot];
      const base = slot * KEEP;
      for (let d = 0; d < len; d++) this.window[n++] = this.gDigits[base + d];
    }
    return n;
  }

  tryCard(from: number, to: number, total: number): void {
    if (total > KEEP) return;
    const n = this.collect(from, to);
    if (cardBrand(this.window, n) === undefined || !luhnValid(this.window, n)) return;
    this.cards++;
    this.add("credit_card", from, to);
  }

  /** A bare 9-digit group: an SSN when issued (or an ITIN) and the context names an SSN. */
  tryBareSsn(j: number): void {
    if (this.collect(j, j) !== 9) return;
    if (!ssnValid(this.window) && !itinValid(this.window)) return;
    if (!this.ssnContext(this.gStart[j & MASK])) return;
    this.addSsn(j, j);
  }

  addSsn(from: number, to: number): void {
    this.ssns++;
    this.add("ssn", from, to);
  }

  /**
   * SSN context for a number starting at `start`: in JSON, the member name the value belongs
   * to, and for a string value the text before the number inside it; in plain text, the
   * characters before it and the caller's context.
   */
  ssnContext(start: number): boolean {
    const t = this.text;
    if (!this.json) {
      if (this.context !== undefined && hasSsnContext(this.context)) return true;
      return hasSsnContext(t, Math.max(0, start - SSN_CONTEXT_CHARS), start);
    }
    if (!this.chainInString) return keyNamesSsn(t, start);
    const from = Math.max(this.strStart + 1, start - SSN_CONTEXT_CHARS);
    if (hasSsnContext(t, from, start)) return true;
    return keyNamesSsn(t, this.strStart);
  }

  /** Appends a span, merging it with earlier spans it overlaps (they end no later). */
  add(kind: PiiKind, from: number, to: number): void {
    let start = this.gStart[from & MASK];
    const end = this.gEnd[to & MASK];
    const spans = this.spans;
    while (spans.length > 0 && spans[spans.length - 1].end > start) {
      start = Math.min(start, spans.pop()!.start);
    }
    spans.push({ kind, start, end, inString: this.chainInString || !this.json });
  }
}

const shared = new Scanner();

/**
 * Finds payment cards and SSNs in `text` in one linear pass.
 *
 * @example
 * ```ts
 * scanPii('{"card":"4532-0151-1283-0366"}', { json: true }).creditCards; // 1
 * ```
 */
export function scanPii(text: string, opts: ScanOptions = {}): ScanResult {
  const s = shared;
  s.reset(text, opts);
  try {
    s.run();
    return {
      creditCards: s.cards,
      ssns: s.ssns,
      spans: s.spans,
      secrets: s.secrets?.spans ?? [],
      maxDepth: s.maxDepth,
      tooDeep: s.tooDeep,
    };
  } finally {
    s.text = "";
    s.spans = [];
    s.secrets = undefined;
    s.tracker.reset("", () => false);
  }
}
