/**
 * One-pass, linear-time detection of payment cards and US SSNs in raw text or raw JSON text.
 *
 * No regular expressions: a small state machine walks the UTF-8 bytes once, collects runs of
 * digits ("groups") joined by single spaces or hyphens ("chains"), and checks every window of
 * at most six groups that could be a card (12-19 digits, brand prefix, Luhn) or an SSN. An SSN
 * is a 3-2-4 chain with one separator (always: SSNs and ITINs alike, as every IATP client
 * counts them), or a bare 9-digit run that is an issued SSN or an ITIN and has SSN context: a
 * JSON member name or the few characters before it naming an SSN (see context.ts), so an
 * `order_id` of nine digits is not one (the window rules are in windows.ts). Work per byte is
 * bounded by a constant, so a megabyte of adversarial digits and separators costs the same as a
 * megabyte of prose.
 *
 * Bytes rather than a string's characters: indexing a byte array is about twice as fast as
 * `charCodeAt`, and every byte of a non-ASCII character is >= 128, which the rules treat as they
 * treat any non-ASCII character (not a digit, letter or separator). A string is encoded first
 * (text.ts) and the offsets found are turned back into string offsets. Digits are not
 * copied while walking: a group is its start, end and digit count, and its digits are read back
 * from the bytes only when a window could be a card or an SSN. While no chain is open a fast
 * path (skip.ts) skips plain bytes, follows JSON structure and passes over chains that can hold
 * no finding.
 *
 * JSON mode also decodes string escapes (`\u0034` is a `4`), tells string contents from bare
 * numbers (the scrubber must quote a redacted number) and tracks nesting depth. Given a key
 * rule, it also reports the value of every member whose key the rule calls secret (a string,
 * number, object or array, whole), in the same pass.
 * @module
 */
import * as chars from "./chars.ts";
import {
  DIGIT_RUN,
  digitRun,
  digitsEnd,
  escapedWideDigit,
  escapeLength,
  isWordChar,
  jsonEscape,
  utf8WideDigit,
  WIDE_DIGIT_LEAD,
  wordView,
} from "./chars.ts";
import { DEFAULT_MAX_JSON_DEPTH, FastPath, NO_VIEW } from "./skip.ts";
import type { ScanOptions, ScanResult } from "./types.ts";
import { MASK } from "./windows.ts";

export { DEFAULT_MAX_JSON_DEPTH } from "./skip.ts";

// Module-local copies: the state machine reads them for every character, and V8 folds local
// constants where it reads imported bindings through the module record.
const SPACE = chars.SPACE;
const HYPHEN = chars.HYPHEN;
const DOT = chars.DOT;
const PLUS = chars.PLUS;
const BACKSLASH = chars.BACKSLASH;

const IDLE = 0;
const IN_GROUP = 1;
const AFTER_SEP = 2;
const AFTER_DOT = 3;
/** The state machine; one instance is reused because scans are synchronous. */
class Scanner extends FastPath {
  state = IDLE;
  sep = 0;

  reset(b: Uint8Array, n: number, opts: ScanOptions, ascii: boolean): void {
    this.b = b;
    this.n = n;
    this.ascii = ascii;
    this.json = opts.json ?? false;
    this.context = opts.context;
    this.contextVerdict = -1;
    this.depthLimit = opts.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
    this.spans = [];
    this.secrets = undefined;
    this.view = this.json ? wordView(b) : NO_VIEW;
    this.resetGrammar(this.json && opts.checkObject === true);
    if (this.json && opts.secretKey !== undefined) {
      this.tracker.reset(b, n, opts.secretKey);
      this.secrets = this.tracker;
    }
    this.cards =
      this.ssns =
      this.depth =
      this.maxDepth =
      this.sep =
      this.prev =
      this.numberAt =
        0;
    this.inString =
      this.tooDeep =
      this.chainTainted =
      this.chainInString =
        false;
    this.state = IDLE;
    this.g = this.chainFirst = 0;
    this.runAt = -1;
  }

  /** Scans the text; without `fastPath` every byte goes through the state machine. */
  run(fastPath: boolean): void {
    const b = this.b;
    const n = this.n;
    let i = 0;
    while (i < n) {
      if (this.state === IDLE && fastPath) {
        i = this.idle(i);
        if (i < 0) return; // nesting too deep, or the grammar check refused the text
        if (i >= n) break;
      }
      let c = b[i];
      if (c >= 48 && c <= 57) {
        // While checking, a digit outside strings starts or continues a number read whole.
        const number = this.checking && !this.inString;
        if (number && !this.digitAt(i)) return this.stopped();
        if (this.json && !this.inString && i >= this.numberAt) this.numberAt = this.bareNumber(i);
        if (this.state !== IN_GROUP) this.startGroup(i);
        i = this.digits(i);
        if (number && i > this.tokenEnd) {
          this.refuse();
          return this.stopped();
        }
        continue;
      }
      if ((c >= 0x80 || c === BACKSLASH) && fastPath && (this.inString || !this.json)) {
        // A decimal digit beyond ASCII (`４`, `٤`, `४`) or a JSON escape of a digit (`\uff14`,
        // `\u0034`) is the ASCII digit of its value: in a string or in plain text the digits
        // after it are read with it (ASCII text never comes here); without the fast path, one
        // at a time below.
        const end = this.runOfDigits(i) | 0;
        if (end > i) {
          i = end;
          continue;
        }
      }
      let next = i + 1;
      let escaped = false;
      if (this.checking && (c < 0x20 || c >= 0x80 || c === BACKSLASH)) {
        // Outside strings only whitespace of these may stand (structure() takes it); in a
        // string a control character, a broken escape or broken UTF-8 is refused, and a
        // UTF-8 sequence is stepped over whole.
        if (!this.inString) {
          if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) {
            this.refuse();
            return this.stopped();
          }
        } else {
          const end = this.stringByte(c, i);
          if (end < 0) return this.stopped();
          if (c >= 0x80) next = end;
        }
      }
      if (c === BACKSLASH && next < n) {
        const e = jsonEscape(b, i, n);
        if (e >= 0) {
          c = e;
          next = i + escapeLength(b, i);
          escaped = true;
        }
      }
      if (c >= 0x80) {
        // The same outside JSON strings (the text is no JSON there), one digit at a time.
        const d = escaped ? escapedWideDigit(b, i, n, c) : utf8WideDigit(b, i, n);
        if (d >= 0) {
          c = 48 + (d & 15);
          next = i + (d >> 4);
        }
      }
      if (c >= 48 && c <= 57) {
        if (this.state !== IN_GROUP) this.startGroup(i);
        this.extendGroup(1, next);
      } else {
        if (this.state !== IDLE) this.afterGroup(c);
        if (this.json && !escaped && !this.structure(c, i)) {
          this.state = IDLE; // nesting too deep, or the grammar check refused the text
          return;
        }
      }
      this.prev = c;
      i = next;
    }
    this.finish();
  }

  /** Ends the walk early (the grammar check refused the text). */
  stopped(): void {
    this.state = IDLE;
  }

  /** Consumes a run of plain ASCII digits into the current group; returns the index after it. */
  digits(from: number): number {
    const i = digitsEnd(this.b, from + 1, this.n);
    this.extendGroup(i - from, i);
    this.prev = 48;
    return i;
  }

  /**
   * The digits from `at` (a byte beyond ASCII or a backslash) read at once into the current
   * group, however each is written, as the state machine reads them one at a time in a string
   * or in plain text (where a digit changes nothing but its group); returns the index after
   * them, `at` when there is no digit there.
   */
  runOfDigits(at: number): number {
    const b = this.b;
    const c = b[at];
    if (c !== BACKSLASH && WIDE_DIGIT_LEAD[c] !== 1) return at;
    const end = at === this.runAt ? this.runEnd : digitRun(b, at, this.n);
    this.runAt = -1;
    if (end === at) return at;
    if (this.state !== IN_GROUP) this.startGroup(at);
    // While checking, a byte beyond ASCII in a string is stepped over as stringByte steps.
    if (DIGIT_RUN[2] === 1 && this.checking) {
      this.wide = true;
      this.ascii = false;
    }
    this.extendGroup(DIGIT_RUN[0], end);
    this.prev = 48 + DIGIT_RUN[1];
    return end;
  }

  /** Adds `count` digits ending before `end` to the current group. */
  extendGroup(count: number, end: number): void {
    const slot = this.g & MASK;
    this.gLen[slot] += count;
    this.gEnd[slot] = end;
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
        if (c === HYPHEN) this.releasePrefix(j);
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
}

const shared = new Scanner();
const EMPTY = new Uint8Array(0);

/**
 * Finds payment cards and SSNs in the UTF-8 text `b[0..n)` in one linear pass; offsets in the
 * result are byte offsets. `ascii` tells that every byte is a character (context windows then
 * need no counting). Strings go through {@linkcode scanPii} (text.ts). `fastPath: false` sends
 * every byte through the full state machine: the same result, slower (tests compare the two).
 *
 * @example
 * ```ts
 * const b = new TextEncoder().encode('{"card":"4532-0151-1283-0366"}');
 * scanUtf8(b, b.length, { json: true }, true).creditCards; // 1
 * ```
 */
export function scanUtf8(
  b: Uint8Array,
  n: number,
  opts: ScanOptions,
  ascii: boolean,
  fastPath = true,
): ScanResult {
  const s = shared;
  s.reset(b, n, opts, ascii);
  try {
    s.run(fastPath);
    const result: ScanResult = {
      creditCards: s.cards,
      ssns: s.ssns,
      spans: s.spans,
      secrets: s.secrets?.spans ?? [],
      maxDepth: s.maxDepth,
      tooDeep: s.tooDeep,
    };
    if (s.checking) {
      result.object = s.isObject;
      result.wide = s.wide;
    }
    return result;
  } finally {
    s.b = EMPTY;
    s.view = NO_VIEW;
    s.spans = [];
    s.secrets = undefined;
    s.tracker.release();
  }
}
