/**
 * The findings half of the PII scanner: the ring of digit groups of the current chain and the
 * rules that judge its windows. A card is 12-19 digits with a brand prefix and a valid Luhn
 * sum, written plain or in groups of 3-6 digits joined by one kind of separator, and a window is
 * a card only when it is the whole run of its separator (a card-sized group right before or after
 * it means it is a slice of a longer number). An SSN is a 3-2-4 chain with one separator, or a
 * bare 9-digit number that is an issued SSN or an ITIN and has SSN context (context.ts). The
 * walk that feeds the ring is in scan.ts.
 * @module
 */
import {
  brandOfPrefix,
  CARD_MAX_DIGITS,
  CARD_MIN_DIGITS,
  cardBrand,
  itinValid,
  luhnValid,
  ssnValid,
} from "./cards.ts";
import {
  BACKSLASH,
  DOT,
  escapeLength,
  HYPHEN,
  isWordChar,
  jsonEscape,
  PLUS,
  readDigits,
  utf8WideDigit,
} from "./chars.ts";
import {
  contextStart,
  hasSsnContext,
  keyNamesSsn,
  SSN_CONTEXT_CHARS,
  textHasSsnContext,
} from "./context.ts";
import type { PiiKind, PiiSpan } from "./types.ts";

/** Groups remembered per chain: the longest card window has six groups (4+3+3+3+3+3). */
const RING = 8;
/** Slot of group `g` in the ring: `g & MASK`. */
export const MASK = RING - 1;
/** Digits read back per window; longer windows can never be a card or an SSN. */
const KEEP = CARD_MAX_DIGITS;

/** True for the length of a group of a card written in groups (3 to 6 digits). */
function cardGroup(len: number): boolean {
  return len >= 3 && len <= 6;
}

/**
 * True when the digit at `at` in `b` follows a token of one ASCII letter: a letter right before
 * it, and before that letter the start of the text or a character that is no letter, digit
 * (of any script) or `_` (`d7-`, `"x1-`, ` v2-`). Such a one-letter, one-digit prefix is a label, not part of a number
 * (see {@linkcode Windows.releasePrefix}).
 *
 * @example
 * ```ts
 * afterOneLetter(new TextEncoder().encode("d7-4532015112830366"), 1); // true
 * afterOneLetter(new TextEncoder().encode("ad7-4532015112830366"), 2); // false
 * ```
 */
export function afterOneLetter(b: Uint8Array, at: number): boolean {
  if (at < 1) return false;
  const letter = b[at - 1] | 0x20; // lower case
  if (letter < 97 || letter > 122) return false;
  if (at < 2) return true;
  const before = b[at - 2];
  if (before >= 0x80) return !wideDigitBefore(b, at - 1);
  return !isWordChar(before) && !(before >= 48 && before <= 57);
}

/** Whether the UTF-8 sequence that ends right before `end` is a decimal digit beyond ASCII. */
function wideDigitBefore(b: Uint8Array, end: number): boolean {
  let lead = end - 1;
  while (lead > 0 && lead > end - 4 && (b[lead] & 0xc0) === 0x80) lead--;
  const d = utf8WideDigit(b, lead, end);
  return d >= 0 && lead + (d >> 4) === end;
}

/** The text, the group ring of the current chain and the findings so far. */
export class Windows {
  /** The UTF-8 text: `b[0..n)` (the array may be longer, a reused buffer). */
  b: Uint8Array = new Uint8Array(0);
  n = 0;
  /**
   * The text is all ASCII (a byte is a character); false when not known. While the walk checks
   * a JSON object's grammar: the text up to where the walk is (context windows look back).
   */
  ascii = false;
  json = false;
  spans: PiiSpan[] = [];
  cards = 0;
  ssns = 0;
  /** Inside a JSON string. */
  inString = false;
  /** Index of the opening quote of the current (or last) string. */
  strStart = 0;
  /** Extra SSN context for plain text (the member name a value came from). */
  context: string | undefined = undefined;
  /** Whether {@linkcode context} names an SSN: -1 until asked. */
  contextVerdict = -1;
  // Group ring: absolute group counter `g`, slot `g & MASK`. A group is where its digits lie
  // (`gStart..gEnd`, escapes included) and how many there are; they are read back on demand.
  g = 0;
  chainFirst = 0;
  /** The chain follows a letter, `_`, `+` or `<digit>.`: nothing in it is judged. */
  chainTainted = false;
  chainInString = false;
  readonly gStart = new Int32Array(RING);
  readonly gEnd = new Int32Array(RING);
  readonly gLen = new Int32Array(RING);
  /** The separator before the group (0 for a chain's first group). */
  readonly gLink = new Int32Array(RING);
  readonly window = new Uint8Array(KEEP);
  /** The index after the last bare JSON number {@linkcode bareNumber} read. */
  numberAt = 0;

  /**
   * A hyphen follows group `j`. When `j` is the first group of a chain tainted by the letter
   * before it, is one digit and that letter is a token of its own (`d7-4532015112830366`), the
   * taint ends here: `d7` is a label, and the hyphen parts it from what follows as it does
   * after any word (`id-4532015112830366`). A one-digit group can start no card or SSN window,
   * so the chain is then judged as if it began after the hyphen. A longer code keeps the taint
   * (`a716-446655440000` in a UUID, `4d7-...`, `ab7-...`).
   */
  releasePrefix(j: number): void {
    const slot = j & MASK;
    if (
      this.chainTainted && j === this.chainFirst && this.gLen[slot] === 1 &&
      afterOneLetter(this.b, this.gStart[slot])
    ) {
      this.chainTainted = false;
    }
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
      if (
        lk === 4 && total >= CARD_MIN_DIGITS &&
        !(sameBefore && cardGroup(this.gLen[(k - 1) & MASK]))
      ) {
        this.tryCard(k, j, total);
      }
      if (lk < 3 || lk > 6 || !sameBefore) return;
    }
  }

  trySeparatedSsn(j: number, link: number, next: number): void {
    if (next === link || j - 2 < this.chainFirst) return;
    const mid = (j - 1) & MASK;
    const first = (j - 2) & MASK;
    if (this.gLen[mid] !== 2 || this.gLink[mid] !== link || this.gLen[first] !== 3) return;
    if (this.gLink[first] === link) return;
    this.addSsn(j - 2, j);
  }

  /**
   * Reads the digits of groups `from..to` (escapes decoded, digits beyond ASCII read as their
   * values) into the scratch window, at most {@linkcode KEEP}; returns the count.
   */
  collect(from: number, to: number): number {
    const b = this.b;
    const w = this.window;
    let count = 0;
    for (let k = from; k <= to; k++) {
      const slot = k & MASK;
      const end = this.gEnd[slot];
      let i = this.gStart[slot];
      while (i < end && count < KEEP) {
        if (b[i] >= 0x80 || b[i] === BACKSLASH) {
          // The rest of the group holds digits beyond ASCII or escapes: read together.
          count = readDigits(b, i, end, this.n, w, count, KEEP);
          break;
        }
        w[count++] = b[i++] - 48;
      }
    }
    return count;
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
   * bytes before it and the caller's context.
   */
  ssnContext(start: number): boolean {
    const b = this.b;
    if (!this.json) {
      if (this.context !== undefined && this.contextNamesSsn()) return true;
      return hasSsnContext(b, contextStart(b, start, 0, this.ascii), start);
    }
    if (!this.chainInString) return keyNamesSsn(b, start, this.ascii);
    if (hasSsnContext(b, contextStart(b, start, this.strStart + 1, this.ascii), start)) return true;
    if (this.escapedContext(start)) return true;
    return keyNamesSsn(b, this.strStart, this.ascii);
  }

  /**
   * SSN context written with escapes in the string before a number at `start`
   * (`"s\u0073n: 123456789"`): the text before it as the agent's JSON parser reads it. Read only
   * when an escape lies in the bytes that can hold the context window (6 bytes a character at
   * most); an escaped character beyond ASCII separates words, as any such character does.
   */
  escapedContext(start: number): boolean {
    const b = this.b;
    const floor = Math.max(this.strStart + 1, start - 6 * SSN_CONTEXT_CHARS);
    let k = start - 1;
    while (k >= floor && b[k] !== BACKSLASH) k--;
    if (k < floor) return false;
    const text = new Uint8Array(start - floor);
    let len = 0;
    for (let i = floor; i < start;) {
      const e = b[i] === BACKSLASH ? jsonEscape(b, i, start) : -1;
      if (e < 0) {
        text[len++] = b[i++];
      } else {
        text[len++] = e < 0x80 ? e : 0x20;
        i += escapeLength(b, i);
      }
    }
    return hasSsnContext(text, contextStart(text, len, 0, false), len);
  }

  /** Whether the caller's context names an SSN (judged once per scan). */
  contextNamesSsn(): boolean {
    if (this.contextVerdict < 0) {
      this.contextVerdict = textHasSsnContext(this.context ?? "") ? 1 : 0;
    }
    return this.contextVerdict === 1;
  }

  /** Appends a span, merging it with earlier spans it overlaps (they end no later). */
  add(kind: PiiKind, from: number, to: number): void {
    this.push(
      kind,
      this.gStart[from & MASK],
      this.gEnd[to & MASK],
      this.chainInString || !this.json,
    );
  }

  /** Appends the span `[start, end)`, merging it with earlier spans it overlaps. */
  push(kind: PiiKind, start: number, end: number, inString: boolean): void {
    const spans = this.spans;
    while (spans.length > 0 && spans[spans.length - 1].end > start) {
      start = Math.min(start, spans.pop()!.start);
    }
    spans.push({ kind, start, end, inString });
  }

  /**
   * A bare JSON number (outside strings) whose first digit is at `i`, written with a fraction or
   * an exponent: `4.532015112830366e15`, `4532015112830366.0` and `45320151128303.66E2` are all
   * the integer 4532015112830366 to the agent's parser. When the value is an integer of 9 or
   * 12-19 digits, those digits are judged as the same number written plainly is (a card; an
   * SSN with SSN context) and the whole number is one span. A fraction that is not all zeros
   * (`0.4532015112830366`, `4532015112830366.5`) is a decimal and stays one. Called at a
   * number's first digit only when a `.`, `e` or `E` follows its first run of digits. Returns
   * the index after the number.
   */
  bareNumber(i: number): number {
    const b = this.b;
    const n = this.n;
    if (i > 0) {
      // Not the start of a number: a digit inside one (after a dot, an exponent or its sign).
      const p = b[i - 1];
      if ((p >= 48 && p <= 57) || p === DOT || (p | 0x20) === 0x65 || p === PLUS) return i + 1;
      if (p === HYPHEN && i > 1 && (b[i - 2] | 0x20) === 0x65) return i + 1;
    }
    let k = i;
    while (k < n && b[k] >= 48 && b[k] <= 57) k++;
    const intLen = k - i;
    let fracStart = k;
    let fracLen = 0;
    if (k < n && b[k] === DOT) {
      fracStart = ++k;
      while (k < n && b[k] >= 48 && b[k] <= 57) k++;
      fracLen = k - fracStart;
    }
    let exp = 0;
    if (k < n && (b[k] | 0x20) === 0x65) {
      k++;
      let negative = false;
      if (k < n && (b[k] === PLUS || b[k] === HYPHEN)) negative = b[k++] === HYPHEN;
      const expStart = k;
      for (; k < n && b[k] >= 48 && b[k] <= 57; k++) if (exp < 1e6) exp = exp * 10 + b[k] - 48;
      if (k === expStart) return k;
      if (negative) exp = -exp;
    } else if (fracLen === 0) {
      return k; // a plain integer: the state machine judges it
    }
    // The mantissa's digits, the fraction's after the integer part's; the point stands after
    // `intLen + exp` of them.
    const total = intLen + fracLen;
    const at = (m: number) => b[m < intLen ? i + m : fracStart + m - intLen] - 48;
    let lead = 0;
    while (lead < total && at(lead) === 0) lead++;
    const len = intLen + exp - lead;
    if (lead === total || (len !== 9 && (len < CARD_MIN_DIGITS || len > CARD_MAX_DIGITS))) return k;
    for (let m = lead + len; m < total; m++) if (at(m) !== 0) return k;
    const w = this.window;
    for (let t = 0; t < len; t++) w[t] = lead + t < total ? at(lead + t) : 0;
    if (len === 9) {
      if ((ssnValid(w) || itinValid(w)) && keyNamesSsn(b, i, this.ascii)) {
        this.ssns++;
        this.push("ssn", i, k, false);
      }
    } else if (cardBrand(w, len) !== undefined && luhnValid(w, len)) {
      this.cards++;
      this.push("credit_card", i, k, false);
    }
    return k;
  }

  /**
   * True when the `len` (12-19) plain digits at `i` are a card number by the rules
   * {@linkcode tryCard} applies (brand, then Luhn), without recording anything.
   */
  isCardNumber(i: number, len: number): boolean {
    const b = this.b;
    const p4 = b[i] * 1000 + b[i + 1] * 100 + b[i + 2] * 10 + b[i + 3] - 48 * 1111;
    return brandOfPrefix(p4, len) !== undefined && luhnValid(b, len, i, 48);
  }
}
