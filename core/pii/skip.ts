/**
 * The PII scanner's fast path: while no digit chain is open it skips bytes that change nothing,
 * follows JSON strings and nesting, and passes over whole chains that can hold no card or SSN,
 * handing the full state machine (scan.ts) only what may hold a finding. In JSON text a string's
 * contents and the text between strings are walked by two loops with a byte class table each,
 * so a byte costs one table lookup and no test of which of the two it lies in; a member name the
 * secret tracker predicts (objects of one shape in an array) is compared whole instead of walked,
 * and a lone number is judged where its digits were counted.
 * @module
 */
import { CARD_MAX_DIGITS, CARD_MIN_DIGITS } from "./cards.ts";
import * as chars from "./chars.ts";
import {
  DIGIT_RUN,
  digitRun,
  digitsEnd,
  isJsonSpace,
  isWordChar,
  plainCheckedWord,
  plainStringWord,
  utf8WideDigit,
  WIDE_DIGIT_LEAD,
} from "./chars.ts";
import { JsonGrammar } from "./grammar.ts";
import { SecretTracker } from "./secrets.ts";
import { afterOneLetter } from "./windows.ts";

/** Default bound on JSON nesting depth. */
export const DEFAULT_MAX_JSON_DEPTH = 64;

// Module-local copies: the loops read them for every byte, and V8 folds local constants where
// it reads imported bindings through the module record.
const SPACE = chars.SPACE;
const HYPHEN = chars.HYPHEN;
const DOT = chars.DOT;
const PLUS = chars.PLUS;
const BACKSLASH = chars.BACKSLASH;
const QUOTE = chars.QUOTE;
const COLON = chars.COLON;
const COMMA = 0x2c;
const CLASSES_JSON = chars.CLASSES_JSON;
const CLASSES_JSON_STRING = chars.CLASSES_JSON_STRING;
const CLASSES_JSON_CHECKED = chars.CLASSES_JSON_CHECKED;
const CLASSES_JSON_STRING_CHECKED = chars.CLASSES_JSON_STRING_CHECKED;
const CHECKED = chars.CHECKED;
const CLASSES_TEXT = chars.CLASSES_TEXT;
const PLAIN = chars.PLAIN;
const STRUCTURE = chars.STRUCTURE;
const DIGIT = chars.DIGIT;
const WIDE = chars.WIDE;
const ESCAPE = chars.ESCAPE;
const HIGH = chars.HIGH;

/** Bytes of a string read one at a time before words are tried. */
const WORDS_AFTER = 4;

/** Digits of a number's integer part, or of its fraction, that {@linkcode FastPath.passNumber} reads at most. */
const NUMBER_DIGITS = 24;

/** The view of no bytes (no text held). */
export const NO_VIEW = new DataView(new ArrayBuffer(0));

/**
 * 1 for a byte that may continue a chain after its digits: a separator, a dot, a backslash (an
 * escape may be a digit) or a byte that may start a decimal digit beyond ASCII.
 */
const CLASSES_LINK = new Uint8Array(256);
for (const c of [SPACE, HYPHEN, DOT, BACKSLASH]) CLASSES_LINK[c] = 1;
for (let c = 0x80; c < 256; c++) CLASSES_LINK[c] = WIDE_DIGIT_LEAD[c];

/** Whether `b[from..to)` are all `0`. */
function zerosOnly(b: Uint8Array, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (b[k] !== 48) return false;
  return true;
}

/** JSON structure, nesting, secret members and the fast path over the text. */
export class FastPath extends JsonGrammar {
  depthLimit = DEFAULT_MAX_JSON_DEPTH;
  /** Set when secret members are tracked (JSON mode with a key rule). */
  secrets: SecretTracker | undefined = undefined;
  readonly tracker = new SecretTracker();
  depth = 0;
  maxDepth = 0;
  tooDeep = false;
  /** The byte before the next one the state machine reads (0 at the start). */
  prev = 0;
  /**
   * Where the run of digits {@linkcode passWideDigits} read and left to the state machine
   * starts (-1: none), and where it ends; {@linkcode DIGIT_RUN} holds the rest until then.
   */
  runAt = -1;
  runEnd = 0;
  /** {@linkcode b} read a word at a time (JSON text only; set with the text). */
  view: DataView<ArrayBufferLike> = NO_VIEW;

  /**
   * JSON strings and nesting at index `i` (and, while checking, every other byte outside
   * strings); false stops the scan (nesting too deep, or the grammar check refused the text).
   */
  structure(c: number, i: number): boolean {
    if (c === QUOTE) {
      if (this.inString) {
        this.closeString(i);
      } else {
        if (this.checking && !this.openString()) return false;
        this.inString = true;
        this.strStart = i;
      }
      return true;
    }
    return this.inString || this.nest(c, i);
  }

  /**
   * The quote at `i` closes the current string. The secret tracker hears of it unless it is
   * plainly a value: outside secret values, followed by neither a colon nor a space.
   */
  closeString(i: number): void {
    this.inString = false;
    if (this.checking) this.closeStringGrammar();
    const secrets = this.secrets;
    if (secrets === undefined) return;
    const next = i + 1 < this.n ? this.b[i + 1] : COLON;
    if (next !== COLON && !isJsonSpace(next) && !secrets.inSecret) return;
    secrets.stringClosed(this.strStart, i, this.depth);
  }

  /**
   * A bracket or brace `c` at `i` outside strings (while checking, any other byte there too);
   * false when nesting got too deep or the grammar check refused the text.
   */
  nest(c: number, i: number): boolean {
    if (c === 123 || c === 91) {
      if (this.checking && !this.openContainer(c)) return false;
      if (++this.depth > this.maxDepth) this.maxDepth = this.depth;
      if (this.depth > this.depthLimit) {
        this.tooDeep = true;
        return false;
      }
    } else if (c === 125 || c === 93) {
      if (this.checking && !this.closeContainer(c)) return false;
      this.depth--;
      this.secrets?.nestingClosed(this.depth, i);
    } else if (this.checking) {
      return this.otherByte(c, i) >= 0;
    }
    return true;
  }

  /**
   * The fast path from `from` while no chain is open. Returns the index of the first byte the
   * full state machine must see (the start of a chain that may hold a finding, a backslash), `n`
   * at the end, or -1 when nesting got too deep.
   */
  idle(from: number): number {
    const i = this.json ? this.idleJson(from) : this.idleText(from);
    if (i > from) this.prev = this.b[i - 1];
    return i;
  }

  /**
   * {@linkcode idle} in JSON text. A string's contents and the text between strings each have
   * their own loop (and byte classes), so which of the two a byte lies in is never tested.
   */
  idleJson(from: number): number {
    const b = this.b;
    const n = this.n;
    // While checking the grammar, the byte classes send it every byte it must see.
    const checking = this.checking;
    const classes = checking ? CLASSES_JSON_CHECKED : CLASSES_JSON;
    const stringClasses = checking ? CLASSES_JSON_STRING_CHECKED : CLASSES_JSON_STRING;
    let i = from | 0;
    while (i < n) {
      if (this.inString) {
        const view = this.view;
        // Past a string's first bytes (most strings are shorter), four plain bytes cost one test.
        let words = this.strStart + 1 + WORDS_AFTER;
        for (;;) {
          if (i >= n) return i;
          const c = b[i];
          const k = stringClasses[c];
          if (k === PLAIN) {
            i++;
            if (i >= words) {
              if (checking) {
                while (i + 4 <= n && plainCheckedWord(view.getInt32(i, true))) i += 4;
              } else {
                while (i + 4 <= n && plainStringWord(view.getInt32(i, true))) i += 4;
              }
              words = i + 4; // the word that stopped it holds a byte to step over first
            }
            continue;
          }
          if (k === STRUCTURE) {
            this.closeString(i++);
            break;
          } else if (k === DIGIT) {
            // Most digits in a string are a short run that ends the chain (an id, a count):
            // passed here as passChain passes them, without the call.
            const e = digitsEnd(b, i + 1, n);
            if (e - i < 9 && e + 1 < n && CLASSES_LINK[b[e]] === 0) {
              i = e;
              continue;
            }
            const end = this.passChain(i, e, from) | 0;
            if (end < 0) return i;
            i = end;
          } else if (k === HIGH) {
            i++; // beyond ASCII and no digit's first byte
          } else if (k === CHECKED) {
            // A decimal digit beyond ASCII is passed as ASCII digits are, or goes to the state
            // machine (which checks it too).
            if (WIDE_DIGIT_LEAD[c] === 1) {
              const e = this.passWideDigits(i) | 0;
              if (e < 0) return i;
              if (e > i) {
                i = e;
                continue;
              }
            }
            i = this.stringByte(c, i) | 0;
            if (i < 0) return -1;
          } else if (k === WIDE || (k === ESCAPE && !checking)) {
            const e = this.passWideDigits(i) | 0;
            if (e > i) i = e;
            else if (e === i && k === WIDE) i++;
            else return i;
          } else {
            return i;
          }
        }
      }
      for (;;) {
        if (i >= n) return i;
        const c = b[i];
        const k = classes[c];
        if (k === PLAIN) {
          i++;
        } else if (c === QUOTE) {
          // The member name predicted next is compared as a whole instead of walked (a string
          // right after a colon is a value: not tried); a string value right after its colon
          // is opened at once. `after` is the index after the colon.
          const after = this.secrets === undefined || (i > 0 && b[i - 1] === COLON) ||
              (checking && !this.expectsName)
            ? -1
            : this.secrets.passName(i) | 0;
          if (after < 0) {
            if (checking && !this.openString()) return -1;
            this.strStart = i;
          } else {
            if (checking && !this.namePassed()) return -1;
            if (after < n && b[after] === QUOTE) {
              if (checking) this.openString();
              this.strStart = after;
            } else {
              i = after;
              continue;
            }
          }
          i = this.strStart + 1;
          this.inString = true;
          break;
        } else if (k === STRUCTURE) {
          if (!this.nest(c, i++)) return -1;
        } else if (k === DIGIT) {
          if (checking && i >= this.tokenEnd) {
            const end = this.passNumber(i) | 0;
            if (end > 0) {
              i = end;
              continue;
            }
          }
          if (checking && !this.digitAt(i)) return -1;
          const e = digitsEnd(b, i + 1, n);
          if (i >= this.numberAt && (b[e] === DOT || (b[e] | 0x20) === 0x65)) {
            this.numberAt = this.bareNumber(i);
          }
          const end = this.passChain(i, e, from) | 0;
          if (end < 0) return i;
          if (checking && end > this.tokenEnd && !this.passedRun(i, end)) return -1;
          i = end;
        } else if (c === COMMA && this.comma()) {
          i++; // a comma after a value (checked: a comma is only plain when not checking)
        } else if (k === CHECKED) {
          i = this.otherByte(c, i) | 0;
          if (i < 0) return -1;
        } else {
          return i;
        }
      }
    }
    return i;
  }

  /** {@linkcode idle} in plain text. */
  idleText(from: number): number {
    const b = this.b;
    const n = this.n;
    let i = from;
    while (i < n) {
      const k = CLASSES_TEXT[b[i]];
      if (k === PLAIN) {
        i++;
      } else if (k === DIGIT) {
        const end = this.passChain(i, digitsEnd(b, i + 1, n), from);
        if (end < 0) break;
        i = end;
      } else if (k === WIDE && utf8WideDigit(b, i, n) < 0) {
        i++;
      } else {
        break;
      }
    }
    return i;
  }

  /**
   * Past the digits that start with the decimal digit beyond ASCII (or the JSON escape of a
   * digit) at `i`, in a string, when they are what most numbers in a string are: one group of
   * fewer than 9 digits (however written) followed by a byte that cannot continue a chain, as
   * the string loop passes such ASCII digits; -1 when the state machine must read them, `i`
   * when there is no digit at `i`.
   */
  passWideDigits(i: number): number {
    const b = this.b;
    const n = this.n;
    const e = digitRun(b, i, n);
    if (e === i) return i;
    if (DIGIT_RUN[0] >= 9 || e + 1 >= n || CLASSES_LINK[b[e]] !== 0) {
      this.runAt = i; // the state machine takes the run as read
      this.runEnd = e;
      return -1;
    }
    // While checking, as stringByte steps over a byte beyond ASCII in a string.
    if (DIGIT_RUN[2] === 1 && this.checking) {
      this.wide = true;
      this.ascii = false;
    }
    return e;
  }

  /**
   * While checking, the number value starting with the digit at `i` read and passed whole, when
   * it is as most are: an integer that is not 9 digits long nor a card number, or one with a
   * fraction that is not all zeros or has fewer than 9 digits before it (the state machine
   * drops the digits before a `<digit>.<digit>` and finds nothing after it, see
   * {@linkcode skipChain}), where a value may stand, followed by a comma or a closing bracket.
   * Returns the index after it, or -1 (nothing changed: the digit goes the general way, which
   * also words a refusal).
   */
  passNumber(i: number): number {
    const b = this.b;
    const n = this.n;
    // Digits are read up to a bound: a number it gives up on is read again the general way.
    let e = digitsEnd(b, i + 1, i + NUMBER_DIGITS < n ? i + NUMBER_DIGITS : n);
    let card = 0;
    if (b[i] === 48 && e > i + 1) return -1; // a leading zero
    if (e < n && b[e] === DOT) {
      const f = digitsEnd(b, e + 1, e + NUMBER_DIGITS < n ? e + NUMBER_DIGITS : n);
      if (f === e + 1) return -1;
      // 9 digits or more before a fraction of zeros: an integer (`4532015112830366.0`).
      if (e - i >= 9 && zerosOnly(b, e + 1, f)) return -1;
      e = f;
    } else {
      const len = e - i;
      if (len === 9) return -1;
      if (len >= CARD_MIN_DIGITS && len <= CARD_MAX_DIGITS) card = len;
    }
    if (e + 1 >= n) return -1;
    const x = b[e];
    if ((x !== 44 && x !== 125 && x !== 93) || !this.expectsValue) return -1;
    // One group of 12-19 digits where a value may stand (after a colon, a comma, a bracket or
    // a space: never tainted) is judged as passChain judges it.
    if (card !== 0 && this.isCardNumber(i, card)) return -1;
    this.valueToken(e);
    return e;
  }

  /**
   * The index right after the chain that starts with the digit at `i`, whose first run of
   * digits ends at `e` (the caller read it), when it can hold no card or SSN, else -1 (see
   * {@linkcode skipChain}). Most numbers are one short group (an id, an amount, a year)
   * followed by neither a separator nor an escape: those are passed at once. `from` is where
   * the fast path began (the byte before it is {@linkcode prev}).
   */
  passChain(i: number, e: number, from: number): number {
    const b = this.b;
    const n = this.n;
    const len = e - i;
    const lone = e + 1 < n && CLASSES_LINK[b[e]] === 0;
    if (lone && len !== 9 && (len < CARD_MIN_DIGITS || len > CARD_MAX_DIGITS)) return e;
    const prev = i > from ? b[i - 1] : this.prev;
    const tainted = isWordChar(prev) || prev === PLUS;
    // One digit after a one-letter label, then a hyphen (`d7-4532...`): the state machine ends
    // the taint there (Windows.releasePrefix) and walks what follows.
    if (tainted && len === 1 && e < n && b[e] === HYPHEN && afterOneLetter(b, i)) return -1;
    if (!lone) return this.skipChain(i, e, tainted);
    // One group of 9 or 12-19 digits: judged here as skipChain would.
    if (tainted) return e;
    return len === 9 || this.isCardNumber(i, len) ? -1 : e;
  }

  /**
   * The index right after the chain that starts with the digit at `i` when the chain can hold
   * no card or SSN, else -1 (the state machine walks it). Such a chain is plain (digits and
   * single separators, no escape or byte beyond ASCII, not at the end of the text) and either
   * `tainted` (it follows a letter, `_` or `+`) or short: fewer than 12 digits in all, no 3-2-4
   * run of groups, and not one group of 9 digits; or it is one group of 12-19 digits that is no
   * card number (no brand starts so, as with a millisecond timestamp, or the Luhn sum fails). The part after
   * `<digits>.<digit>` is tainted, as the state machine has it. A conservative test: whatever
   * it passes, the state machine finds nothing in.
   */
  skipChain(i: number, firstEnd: number, tainted: boolean): number {
    const b = this.b;
    const n = this.n;
    let start = i;
    let e = firstEnd;
    let total = 0;
    let groups = 0;
    let last = 0; // length of the group before the current one
    let before = 0; // and of the one before that
    for (;;) {
      e = digitsEnd(b, e, n);
      if (!tainted) {
        const len = e - start;
        total += len;
        groups++;
        if (groups > 1 && total >= CARD_MIN_DIGITS) return -1;
        if (len === 4 && last === 2 && before === 3) return -1;
        before = last;
        last = len;
      }
      if (e + 1 >= n || b[e] === BACKSLASH) return -1;
      const x = b[e];
      let end = e;
      if (x === SPACE || x === HYPHEN || x === DOT) {
        const y = b[e + 1];
        if (y >= 48 && y <= 57) {
          tainted ||= x === DOT;
          start = ++e;
          continue;
        }
        // An escape, or a byte beyond ASCII (it may start a digit of another script).
        if (y === BACKSLASH || y >= 0x80) return -1;
        end = e + 1;
      } else if (x >= 0x80) {
        return -1; // it may start a digit of another script
      }
      if (tainted || groups > 1) return end;
      return total === 9 || (total >= CARD_MIN_DIGITS && total <= CARD_MAX_DIGITS &&
          this.isCardNumber(i, total))
        ? -1
        : end;
    }
  }
}
