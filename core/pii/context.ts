/**
 * SSN context: the words that turn a bare 9-digit number into an SSN (`ssn`, `social
 * security`, `tax id`, `taxpayer`, `tin`, `itin`), looked for in a JSON member name or in the
 * few characters just before the number. A separated 3-2-4 number needs no context.
 * @module
 */

import { COLON, HYPHEN, isJsonSpace, memberName, QUOTE } from "./chars.ts";

/** Characters before a bare 9-digit number searched for SSN words. */
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

/** True when `text[s..e)` is `word` (lower case), ignoring case; allocates nothing. */
function wordIs(text: string, s: number, e: number, word: string): boolean {
  if (e - s !== word.length) return false;
  for (let k = 0; k < word.length; k++) {
    if ((text.charCodeAt(s + k) | 32) !== word.charCodeAt(k)) return false;
  }
  return true;
}

/** True when a word starts at `s`: an upper-case letter right after a lower-case one. */
function camelStart(text: string, s: number): boolean {
  return isUpper(text.charCodeAt(s)) && isLower(text.charCodeAt(s - 1));
}

/**
 * True when `text.slice(from, to)` holds an SSN word or phrase, case-insensitively, as a whole
 * word: letters are words, everything else separates them, and camelCase splits (`taxId`,
 * `ssnNumber`). A word cut by `from` (a letter on both sides of it) is not counted. Words are
 * read from the end, nearest first, and compared in place: a context check allocates nothing.
 *
 * @example
 * ```ts
 * hasSsnContext("customer_ssn"); // true
 * hasSsnContext("Social Security No."); // true
 * hasSsnContext("setting"); // false ("tin" only as a whole word)
 * ```
 */
export function hasSsnContext(text: string, from = 0, to = text.length): boolean {
  let i = to;
  // The word after the current one (for two-word phrases), or -1.
  let next = -1;
  let nextEnd = -1;
  while (i > from) {
    if (!isLetter(text.charCodeAt(i - 1))) {
      i--;
      continue;
    }
    const end = i;
    let s = i - 1;
    while (s > from && isLetter(text.charCodeAt(s - 1)) && !camelStart(text, s)) s--;
    if (s === from && from > 0 && isLetter(text.charCodeAt(from - 1)) && !camelStart(text, from)) {
      return false; // the window cut this word: not a word of its own
    }
    for (const w of WORDS) if (wordIs(text, s, end, w)) return true;
    if (next >= 0) {
      for (const [first, seconds] of PAIRS) {
        if (!wordIs(text, s, end, first)) continue;
        for (const second of seconds) if (wordIs(text, next, nextEnd, second)) return true;
      }
    }
    next = s;
    nextEnd = end;
    i = s;
  }
  return false;
}

/** True when the quote at `at` is escaped (an odd run of backslashes before it). */
function escapedAt(text: string, at: number): boolean {
  let n = 0;
  while (at - n - 1 >= 0 && text.charCodeAt(at - n - 1) === 92) n++;
  return n % 2 === 1;
}

/**
 * True when the JSON value starting at `value` (a number's first digit, or a string's opening
 * quote) is a member whose name names an SSN. Looks back from the value over `:`, whitespace and
 * a minus sign to the name, so it costs nothing until a bare 9-digit number needs it. Names
 * longer than {@linkcode SSN_KEY_CHARS} are judged by their last characters.
 *
 * @example
 * ```ts
 * keyNamesSsn('{"ssn": 78051120}', 8); // true
 * keyNamesSsn('["ssn", 78051120]', 8); // false: not a member name
 * ```
 */
export function keyNamesSsn(text: string, value: number): boolean {
  const stop = Math.max(0, value - MAX_KEY_GAP);
  let i = value - 1;
  if (i >= stop && text.charCodeAt(i) === HYPHEN) i--;
  while (i >= stop && isJsonSpace(text.charCodeAt(i))) i--;
  if (i < stop || text.charCodeAt(i) !== COLON) return false;
  i--;
  while (i >= stop && isJsonSpace(text.charCodeAt(i))) i--;
  if (i < stop || text.charCodeAt(i) !== QUOTE || escapedAt(text, i)) return false;
  const close = i;
  const limit = Math.max(0, close - SSN_KEY_CHARS);
  let open = close - 1;
  while (open >= limit && !(text.charCodeAt(open) === QUOTE && !escapedAt(text, open))) open--;
  return hasSsnContext(memberName(text.slice(Math.max(open + 1, limit), close)));
}
