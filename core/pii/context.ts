/**
 * SSN context: the words that turn a bare 9-digit number into an SSN (`ssn`, `social
 * security`, `tax id`, `taxpayer`, `tin`, `itin`), looked for in a JSON member name or in the
 * few characters just before the number. A separated 3-2-4 number needs no context.
 * @module
 */

import { COLON, HYPHEN, isJsonSpace, memberName } from "./chars.ts";

/** Characters before a bare 9-digit number searched for SSN words. */
export const SSN_CONTEXT_CHARS = 40;

/** Longest member name (its last characters) searched for SSN words. */
export const SSN_KEY_CHARS = 128;

/** Most characters between a member name and its value for the name to count as context. */
const MAX_KEY_GAP = 64;

/** Words that are SSN context on their own (lower case). */
const WORDS = new Set([
  "ssn",
  "ssns",
  "tin",
  "itin",
  "itins",
  "taxpayer",
  "taxid",
  "socialsecurity",
]);
/** Two-word phrases: first word -> second words. */
const PAIRS: Record<string, readonly string[]> = {
  social: ["security", "sec"],
  tax: ["id", "ids", "identification"],
};

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

function isLower(c: number): boolean {
  return c >= 97 && c <= 122;
}

/**
 * True when `text.slice(from, to)` holds an SSN word or phrase, case-insensitively, as a whole
 * word: letters are words, everything else separates them, and camelCase splits (`taxId`,
 * `ssnNumber`). A word cut by `from` (a letter on both sides of it) is not counted.
 *
 * @example
 * ```ts
 * hasSsnContext("customer_ssn"); // true
 * hasSsnContext("Social Security No."); // true
 * hasSsnContext("setting"); // false ("tin" only as a whole word)
 * ```
 */
export function hasSsnContext(text: string, from = 0, to = text.length): boolean {
  let prev = "";
  let start = -1;
  // A window that starts inside a word skips that word's rest.
  let skip = from > 0 && isLetter(text.charCodeAt(from - 1)) && isLetter(text.charCodeAt(from));
  for (let i = from; i <= to; i++) {
    const c = i < to ? text.charCodeAt(i) : 0;
    const letter = isLetter(c);
    const camel = letter && start >= 0 && isUpper(c) && isLower(text.charCodeAt(i - 1));
    if (start >= 0 && (!letter || camel)) {
      if (skip) {
        skip = false;
        prev = "";
      } else {
        const word = text.slice(start, i).toLowerCase();
        if (WORDS.has(word) || PAIRS[prev]?.includes(word)) return true;
        prev = word;
      }
      start = -1;
    }
    if (letter && start < 0) start = i;
  }
  return false;
}

function isLetter(c: number): boolean {
  return isUpper(c) || isLower(c);
}

/**
 * True when the JSON string whose quotes are at `open` and `close` is the member name of the
 * value starting at `value` (only `:`, whitespace and a minus sign between) and names an SSN.
 *
 * @example
 * ```ts
 * keyNamesSsn('{"ssn": 78051120}', 8, 1, 5); // true
 * ```
 */
export function keyNamesSsn(text: string, value: number, open: number, close: number): boolean {
  if (close < 0 || value - close > MAX_KEY_GAP) return false;
  let i = close + 1;
  while (i < value && isJsonSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== COLON) return false;
  i++;
  while (i < value && isJsonSpace(text.charCodeAt(i))) i++;
  if (i < value && text.charCodeAt(i) === HYPHEN) i++;
  if (i !== value) return false;
  return hasSsnContext(memberName(text.slice(Math.max(open + 1, close - SSN_KEY_CHARS), close)));
}
