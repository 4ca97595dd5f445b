/**
 * SSN context: the words that turn a bare 9-digit number into an SSN (`ssn`, `social
 * security`, `tax id`, `taxpayer`, `tin`, `itin`), looked for in a JSON member name or in the
 * few characters just before the number. A separated 3-2-4 number needs no context. The rules read
 * UTF-8 bytes (the words are ASCII; any other character separates words).
 * @module
 */

import { BACKSLASH, COLON, HYPHEN, isJsonSpace, memberName, QUOTE } from "./chars.ts";

/** Characters (UTF-16 units, as in the text a caller holds) before a bare 9-digit number searched for SSN words. */
export const SSN_CONTEXT_CHARS = 40;

/** Longest member name (its last characters) searched for SSN words. */
const SSN_KEY_CHARS = 128;

/** Most characters between a member name and its value for the name to count as context. */
const MAX_KEY_GAP = 64;

/** Words that are SSN context on their own (lower case). */
const WORDS = ["ssn", "ssns", "tin", "itin", "itins", "taxpayer", "taxid", "socialsecurity"];
/** Two-word phrases: [first word, second words]. */
const PAIRS: Array<[string, string[]]> = [
  ["social", ["security", "sec"]],
  ["tax", ["id", "ids", "identification"]],
];

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

function isLower(c: number): boolean {
  return c >= 97 && c <= 122;
}

function isLetter(c: number): boolean {
  return isUpper(c) || isLower(c);
}

/** True when `b[s..e)` is `word` (lower case), ignoring case; allocates nothing. */
function wordIs(b: Uint8Array, s: number, e: number, word: string): boolean {
  if (e - s !== word.length) return false;
  for (let k = 0; k < word.length; k++) {
    if ((b[s + k] | 32) !== word.charCodeAt(k)) return false;
  }
  return true;
}

/** True when a word starts at `s`: an upper-case letter right after a lower-case one. */
function camelStart(b: Uint8Array, s: number): boolean {
  return isUpper(b[s]) && isLower(b[s - 1]);
}

const utf8 = new TextEncoder();

/**
 * True when the UTF-8 bytes `b[from..to)` hold an SSN word or phrase, case-insensitively, as a
 * whole word: letters are words, everything else separates them, and camelCase splits (`taxId`,
 * `ssnNumber`). A word cut by `from` (a letter on both sides of it) is not counted. Words are
 * read from the end, nearest first, and compared in place: a context check allocates nothing.
 *
 * @example
 * ```ts
 * const b = new TextEncoder().encode("Social Security No. 078051120");
 * hasSsnContext(b, 0, 20); // true
 * ```
 */
export function hasSsnContext(b: Uint8Array, from = 0, to = b.length): boolean {
  let i = to;
  // The word after the current one (for two-word phrases), or -1.
  let next = -1;
  let nextEnd = -1;
  while (i > from) {
    if (!isLetter(b[i - 1])) {
      i--;
      continue;
    }
    const end = i;
    let s = i - 1;
    while (s > from && isLetter(b[s - 1]) && !camelStart(b, s)) s--;
    if (s === from && from > 0 && isLetter(b[from - 1]) && !camelStart(b, from)) {
      return false; // the window cut this word: not a word of its own
    }
    for (const w of WORDS) if (wordIs(b, s, end, w)) return true;
    if (next >= 0) {
      for (const [first, seconds] of PAIRS) {
        if (!wordIs(b, s, end, first)) continue;
        for (const second of seconds) if (wordIs(b, next, nextEnd, second)) return true;
      }
    }
    next = s;
    nextEnd = end;
    i = s;
  }
  return false;
}

/**
 * Where the `units` characters (UTF-16 units) before `at` begin, but not before `floor`.
 * `ascii` says the text is all ASCII (a byte is a character).
 */
function unitsBack(
  b: Uint8Array,
  at: number,
  floor: number,
  units: number,
  ascii: boolean,
): number {
  if (ascii) return Math.max(floor, at - units);
  let i = at;
  let n = 0;
  while (i > floor && n < units) {
    const c = b[--i];
    if ((c & 0xc0) !== 0x80) n += c >= 0xf0 ? 2 : 1;
  }
  return i;
}

/**
 * Where the context window before a number starting at `at` begins: {@linkcode SSN_CONTEXT_CHARS}
 * characters back, but not before `floor`. `ascii`: the text is all ASCII.
 */
export function contextStart(b: Uint8Array, at: number, floor: number, ascii: boolean): number {
  return unitsBack(b, at, floor, SSN_CONTEXT_CHARS, ascii);
}

/**
 * True when a string holds an SSN word or phrase (see {@linkcode hasSsnContext}).
 *
 * @example
 * ```ts
 * textHasSsnContext("customer_ssn"); // true
 * textHasSsnContext("setting"); // false ("tin" only as a whole word)
 * ```
 */
export function textHasSsnContext(text: string): boolean {
  return hasSsnContext(utf8.encode(text));
}

/** True when the quote at `at` is escaped (an odd run of backslashes before it). */
function escapedAt(b: Uint8Array, at: number): boolean {
  let n = 0;
  while (at - n - 1 >= 0 && b[at - n - 1] === BACKSLASH) n++;
  return n % 2 === 1;
}

/**
 * True when the JSON value starting at `value` (a number's first digit, or a string's opening
 * quote) is a member whose name names an SSN. Looks back from the value over `:`, whitespace and
 * a minus sign to the name, so it costs nothing until a bare 9-digit number needs it. Names
 * longer than {@linkcode SSN_KEY_CHARS} characters are judged by their last characters (`ascii`:
 * the text is all ASCII, a byte is a character).
 *
 * @example
 * ```ts
 * const enc = (s: string) => new TextEncoder().encode(s);
 * keyNamesSsn(enc('{"ssn": 78051120}'), 8); // true
 * keyNamesSsn(enc('["ssn", 78051120]'), 8); // false: not a member name
 * ```
 */
export function keyNamesSsn(b: Uint8Array, value: number, ascii = false): boolean {
  const stop = Math.max(0, value - MAX_KEY_GAP);
  let i = value - 1;
  if (i >= stop && b[i] === HYPHEN) i--;
  while (i >= stop && isJsonSpace(b[i])) i--;
  if (i < stop || b[i] !== COLON) return false;
  i--;
  while (i >= stop && isJsonSpace(b[i])) i--;
  if (i < stop || b[i] !== QUOTE || escapedAt(b, i)) return false;
  const close = i;
  const limit = unitsBack(b, close, 0, SSN_KEY_CHARS, ascii);
  let open = close - 1;
  let escapes = false;
  while (open >= limit && !(b[open] === QUOTE && !escapedAt(b, open))) {
    escapes ||= b[open] === BACKSLASH;
    open--;
  }
  const start = Math.max(open + 1, limit);
  // A whole name without escapes is its own bytes; one with escapes is decoded first, and so is
  // a long name's tail (a word cut at its start still counts there).
  if (!escapes && start === open + 1) return hasSsnContext(b, start, close);
  return textHasSsnContext(memberName(b, start, close));
}
