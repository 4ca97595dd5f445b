/**
 * Character classes and JSON string escapes shared by the PII scanner, the SSN context rules and
 * the secret tracker. They all read UTF-8 bytes: every byte of a multi-byte character is >= 128,
 * so it is never a letter, a separator or JSON structure, just as a non-ASCII UTF-16 code unit
 * is not. A multi-byte character may be a decimal digit of another script (general category Nd,
 * what Python's `\d` matches): a byte that can start one sends the scanner to read the whole
 * sequence ({@linkcode utf8WideDigit}), and the digit counts as the ASCII digit of its value.
 * @module
 */

/** ` ` */
export const SPACE = 32;
/** `-` */
export const HYPHEN = 45;
/** `.` */
export const DOT = 46;
/** `+` */
export const PLUS = 43;
/** `\` */
export const BACKSLASH = 92;
/** `"` */
export const QUOTE = 34;
/** `:` */
export const COLON = 58;

/** True for JSON whitespace (space, tab, LF, CR). */
export function isJsonSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** True for an ASCII letter or `_` (a digit right after one belongs to a code, not a number). */
export function isWordChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** The value of each hexadecimal digit byte, -1 for any other byte. */
const HEX_VALUES: Int8Array = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let k = 0; k < 16; k++) t["0123456789abcdef".charCodeAt(k)] = k;
  for (let k = 10; k < 16; k++) t["ABCDEF".charCodeAt(k - 10)] = k;
  return t;
})();

/**
 * The index of the first byte at or after `i` (before `n`) that is not an ASCII digit. Its own
 * function so that the loop, which may run a megabyte long, is what V8 compiles on the stack
 * (on-stack replacement) rather than a caller whose later operations have not run yet.
 *
 * @example
 * ```ts
 * digitsEnd(new TextEncoder().encode("12345 6"), 0, 7); // 5
 * ```
 */
export function digitsEnd(b: Uint8Array, i: number, n: number): number {
  while (i < n && b[i] >= 48 && b[i] <= 57) i++;
  return i;
}

/**
 * Whether none of the four bytes of the little-endian word `w` is a quote, a backslash, an
 * ASCII digit or a byte beyond ASCII: the bytes a JSON string's contents hold that matter to
 * the scanner (a byte beyond ASCII may start a decimal digit of another script; the string loop
 * steps over those that cannot one at a time). Each byte is tested in its own lane without
 * carries between lanes, so the answer is exact.
 *
 * @example
 * ```ts
 * plainStringWord(new DataView(new TextEncoder().encode("abcd").buffer).getInt32(0, true)); // true
 * ```
 */
export function plainStringWord(w: number): boolean {
  // With bit 7 cleared, adding 0x80 - k to a byte sets its bit 7 iff the byte is >= k.
  const a = w & 0x7f7f7f7f;
  const quote = (a + 0x5e5e5e5e) ^ (a + 0x5d5d5d5d);
  const backslash = (a + 0x24242424) ^ (a + 0x23232323);
  const digit = (a + 0x50505050) ^ (a + 0x46464646);
  return ((quote | backslash | digit | w) & 0x80808080) === 0;
}

/**
 * {@linkcode plainStringWord} while the walk also checks the grammar: a control character
 * (below 0x20) or a byte beyond ASCII is not plain either.
 *
 * @example
 * ```ts
 * plainCheckedWord(new DataView(new TextEncoder().encode("ab\u00e9").buffer).getInt32(0, true)); // false
 * ```
 */
export function plainCheckedWord(w: number): boolean {
  const a = w & 0x7f7f7f7f;
  const quote = (a + 0x5e5e5e5e) ^ (a + 0x5d5d5d5d);
  const backslash = (a + 0x24242424) ^ (a + 0x23232323);
  const digit = (a + 0x50505050) ^ (a + 0x46464646);
  // Adding 0x60 sets bit 7 of a 7-bit byte iff it is >= 0x20: clear for a control character.
  const control = ~(a + 0x60606060);
  return ((quote | backslash | digit | control | w) & 0x80808080) === 0;
}

/**
 * The first code point of each run of ten Unicode decimal digits (general category Nd) beyond
 * ASCII, in order: the digit at code point `z + k` of the run starting at `z` has the value `k`
 * (Unicode keeps every Nd run in order from its zero). Python's `\d` matches all of them in a
 * text pattern, so a card written in full-width (U+FF10-FF19), Arabic-Indic (U+0660-0669),
 * Devanagari (U+0966-096F) or any other such digits is a card to an upstream client.
 */
// deno-fmt-ignore
const WIDE_DIGIT_ZEROS: Int32Array = Int32Array.from([
  0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66, 0xde6,
  0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50,
  0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10, 0x104a0,
  0x10d30, 0x10d40, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
  0x116c0, 0x116d0, 0x116da, 0x11730, 0x118e0, 0x11950, 0x11bf0, 0x11c50, 0x11d50, 0x11da0,
  0x11f50, 0x16130, 0x16a60, 0x16ac0, 0x16b50, 0x16d70, 0x1ccf0, 0x1d7ce, 0x1d7d8, 0x1d7e2,
  0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e4f0, 0x1e5f1, 0x1e950, 0x1fbf0,
]);

/** Code points per page of {@linkcode DIGIT_VALUES} (a power of two: `1 << DIGIT_PAGE_BITS`). */
const DIGIT_PAGE_BITS = 6;
/** Past the last decimal digit beyond ASCII, rounded up to a whole page. */
const DIGIT_PAGES_END = 0x20000;

/**
 * The digit table in two levels, so that a code point's value is two reads instead of a search:
 * {@linkcode DIGIT_PAGE} gives each page of 64 code points below U+20000 the number of its row in
 * {@linkcode DIGIT_VALUES} (row 0, all -1, for the pages that hold no digit), and the row gives
 * each of its code points its value or -1. 66 pages hold digits: 6 KB in all.
 */
const [DIGIT_PAGE, DIGIT_VALUES] = ((): [Uint8Array, Int8Array] => {
  const page = new Uint8Array(DIGIT_PAGES_END >> DIGIT_PAGE_BITS);
  let rows = 1;
  for (const z of WIDE_DIGIT_ZEROS) {
    for (let cp = z; cp <= z + 9; cp++) {
      if (page[cp >> DIGIT_PAGE_BITS] === 0) page[cp >> DIGIT_PAGE_BITS] = rows++;
    }
  }
  const values = new Int8Array(rows << DIGIT_PAGE_BITS).fill(-1);
  for (const z of WIDE_DIGIT_ZEROS) {
    for (let k = 0; k <= 9; k++) {
      const cp = z + k;
      values[(page[cp >> DIGIT_PAGE_BITS] << DIGIT_PAGE_BITS) | (cp & 63)] = k;
    }
  }
  return [page, values];
})();

/**
 * The value (0-9) of the decimal digit beyond ASCII at code point `cp`, or -1 when `cp` is not
 * one (ASCII digits included: the callers read those themselves).
 *
 * @example
 * ```ts
 * wideDigitValue(0xff14); // 4 (full-width 4)
 * wideDigitValue(0x41); // -1
 * ```
 */
export function wideDigitValue(cp: number): number {
  if (cp >= DIGIT_PAGES_END) return -1;
  return DIGIT_VALUES[(DIGIT_PAGE[cp >> DIGIT_PAGE_BITS] << DIGIT_PAGE_BITS) | (cp & 63)];
}

/** 1 for a UTF-8 lead byte that starts some decimal digit beyond ASCII (0xd9, 0xef, ...). */
export const WIDE_DIGIT_LEAD: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const z of WIDE_DIGIT_ZEROS) {
    for (let cp = z; cp <= z + 9; cp++) {
      t[cp < 0x800 ? 0xc0 | (cp >> 6) : cp < 0x10000 ? 0xe0 | (cp >> 12) : 0xf0 | (cp >> 18)] = 1;
    }
  }
  return t;
})();

/**
 * For a byte of {@linkcode WIDE_DIGIT_LEAD}, the length of the UTF-8 sequences it starts (2, 3
 * or 4); 0 for any other byte.
 */
const WIDE_DIGIT_LENGTH: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0xc0; c < 256; c++) {
    if (WIDE_DIGIT_LEAD[c] === 1) t[c] = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
  }
  return t;
})();

/**
 * The decimal digit beyond ASCII whose UTF-8 sequence starts at `b[i]` (before `n`): its value
 * plus its length in bytes times 16, or -1 when the bytes there are not one (well-formed UTF-8
 * only: an overlong or cut sequence is no digit, as a decoder reads it as U+FFFD).
 *
 * @example
 * ```ts
 * utf8WideDigit(new TextEncoder().encode("\uff14"), 0, 3); // 52 (value 4, 3 bytes)
 * ```
 */
export function utf8WideDigit(b: Uint8Array, i: number, n: number): number {
  const c = b[i];
  const len = WIDE_DIGIT_LENGTH[c];
  if (len === 0 || i + len > n) return -1;
  // The code point's page (all its bits but the last six) from every byte but the last.
  let page: number;
  if (len === 3) {
    const c1 = b[i + 1];
    if ((c1 & 0xc0) !== 0x80) return -1;
    page = ((c & 0x0f) << 6) | (c1 & 0x3f);
    if (page < 0x800 >> DIGIT_PAGE_BITS) return -1; // overlong
  } else if (len === 2) {
    page = c & 0x1f;
  } else {
    const c1 = b[i + 1];
    const c2 = b[i + 2];
    if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80) return -1;
    page = ((c & 0x07) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f);
    // Overlong, or beyond the table's pages.
    if (page < 0x10000 >> DIGIT_PAGE_BITS || page >= DIGIT_PAGES_END >> DIGIT_PAGE_BITS) return -1;
  }
  const last = b[i + len - 1];
  if ((last & 0xc0) !== 0x80) return -1;
  const v = DIGIT_VALUES[(DIGIT_PAGE[page] << DIGIT_PAGE_BITS) | (last & 0x3f)];
  return v < 0 ? -1 : v | (len << 4);
}

/**
 * The decimal digit beyond ASCII a JSON escape at `b[at]` (a backslash, before `end`) stands
 * for, `code` being what {@linkcode jsonEscape} read there: its value plus the escape's length
 * in bytes times 16 (6, or 12 for a surrogate pair such as `\ud835\udfce`), or -1.
 */
export function escapedWideDigit(b: Uint8Array, at: number, end: number, code: number): number {
  if (code < 0xd800 || code > 0xdbff) {
    const v = wideDigitValue(code);
    return v < 0 ? -1 : v | (6 << 4);
  }
  if (at + 11 >= end || b[at + 6] !== BACKSLASH) return -1;
  const low = jsonEscape(b, at + 6, end);
  if (low < 0xdc00 || low > 0xdfff) return -1;
  const v = wideDigitValue(0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00));
  return v < 0 ? -1 : v | (12 << 4);
}

/**
 * The value (0-9) of the digit whose text starts at `b[i]` (before `n`): an ASCII digit, a
 * decimal digit beyond ASCII in UTF-8, or a JSON escape of either; with its length in bytes
 * times 16 added. -1 when there is none.
 */
export function digitValueAt(b: Uint8Array, i: number, n: number): number {
  const c = b[i];
  if (c >= 48 && c <= 57) return (c - 48) | (1 << 4);
  if (c >= 0x80) return utf8WideDigit(b, i, n);
  if (c !== BACKSLASH) return -1;
  const e = jsonEscape(b, i, n);
  if (e >= 48 && e <= 57) return (e - 48) | (escapeLength(b, i) << 4);
  return e >= 0x80 ? escapedWideDigit(b, i, n, e) : -1;
}

/**
 * What {@linkcode digitRun} read: the count of digits, the value of the last one, and 1 when
 * any of them was written in UTF-8 beyond ASCII (else 0).
 */
export const DIGIT_RUN: Int32Array = new Int32Array(3);

/**
 * The first three hex digits of the `\u` escape at `b[at]` (a backslash) as a number, or -2
 * when the bytes there start no such escape (the caller makes sure six bytes lie before its
 * bound).
 */
function escapePrefix(b: Uint8Array, at: number): number {
  if (b[at + 1] !== 117) return -2;
  const h = HEX_VALUES[b[at + 2]];
  const i = HEX_VALUES[b[at + 3]];
  const j = HEX_VALUES[b[at + 4]];
  return (h | i | j) < 0 ? -2 : (h << 8) | (i << 4) | j;
}

/**
 * Reads the digits from `b[i]` (before `n`) as {@linkcode digitValueAt} reads each, one after
 * the other, into {@linkcode DIGIT_RUN}; returns the index after them. The digits of a number
 * are almost always of one script: once a digit of 2 or 3 bytes is read, the next one that
 * starts with the same bytes but its last is read from the same row of the digit table
 * without decoding it again, and so is an escape whose first three hex digits are those of
 * the escaped digit before it (`\uff14\uff15`).
 *
 * @example
 * ```ts
 * digitRun(new TextEncoder().encode("\uff14\uff15x"), 0, 7); // 6 (DIGIT_RUN: 2, 5, 1)
 * ```
 */
export function digitRun(b: Uint8Array, i: number, n: number): number {
  let count = 0;
  let last = -1;
  let raw = 0;
  // The last multi-byte digit read: its length (0: none yet), first two bytes and row.
  let len = 0;
  let lead = -1;
  let second = -1;
  let row = 0;
  // The last `\uXXXX` escape of a digit beyond ASCII read: its first three hex digits (-1:
  // none yet) and the row, its bits 4-5 added, where the fourth hex digit finds its value.
  let hex = -1;
  let escRow = 0;
  while (i < n) {
    const c = b[i];
    if (c >= 48 && c <= 57) {
      count++;
      last = c - 48;
      i++;
      continue;
    }
    if (c === lead && i + len <= n && (len === 2 || b[i + 1] === second)) {
      const t = b[i + len - 1];
      const v = (t & 0xc0) === 0x80 ? DIGIT_VALUES[row | (t & 0x3f)] : -1;
      if (v < 0) break;
      count++;
      last = v;
      i += len;
      continue;
    }
    if (c === BACKSLASH && i + 6 <= n && escapePrefix(b, i) === hex) {
      const h = HEX_VALUES[b[i + 5]];
      const v = h < 0 ? -1 : DIGIT_VALUES[escRow | h];
      if (v < 0) break;
      count++;
      last = v;
      i += 6;
      continue;
    }
    const d = digitValueAt(b, i, n);
    if (d < 0) break;
    const dl = d >> 4;
    if (c === BACKSLASH) {
      if (dl === 6) {
        const code = escapePrefix(b, i) << 4;
        if (code >= 0x80) {
          hex = code >> 4;
          escRow = (DIGIT_PAGE[code >> DIGIT_PAGE_BITS] << DIGIT_PAGE_BITS) | (code & 0x30);
        }
      }
    } else if (c >= 0x80) {
      raw = 1;
      if (dl === 2) {
        len = 2;
        lead = c;
        row = DIGIT_PAGE[c & 0x1f] << DIGIT_PAGE_BITS;
      } else if (dl === 3) {
        len = 3;
        lead = c;
        second = b[i + 1];
        row = DIGIT_PAGE[((c & 0x0f) << 6) | (second & 0x3f)] << DIGIT_PAGE_BITS;
      }
    }
    count++;
    last = d & 15;
    i += dl;
  }
  DIGIT_RUN[0] = count;
  DIGIT_RUN[1] = last;
  DIGIT_RUN[2] = raw;
  return i;
}

/**
 * Writes the values of the digits in `b[i..end)` (digits only, as a group of the scan holds,
 * any kind {@linkcode digitValueAt} reads before `n`) into `out` from `count` on, stopping at
 * `max`; returns the new count. A multi-byte digit that starts with the same bytes as the one
 * before it is read from the same row of the digit table, as {@linkcode digitRun} reads it.
 */
export function readDigits(
  b: Uint8Array,
  i: number,
  end: number,
  n: number,
  out: Uint8Array,
  count: number,
  max: number,
): number {
  let len = 0;
  let lead = -1;
  let second = -1;
  let row = 0;
  let hex = -1;
  let escRow = 0;
  while (i < end && count < max) {
    const c = b[i];
    if (c < 0x80 && c !== BACKSLASH) {
      out[count++] = c - 48;
      i++;
    } else if (c === lead && (len === 2 || b[i + 1] === second)) {
      out[count++] = DIGIT_VALUES[row | (b[i + len - 1] & 0x3f)];
      i += len;
    } else if (c === BACKSLASH && escapePrefix(b, i) === hex) {
      out[count++] = DIGIT_VALUES[escRow | HEX_VALUES[b[i + 5]]];
      i += 6;
    } else {
      const d = digitValueAt(b, i, n);
      out[count++] = d & 15;
      i += d < 0 ? 1 : d >> 4; // a group holds digits only: never -1
      if (c === BACKSLASH && (d >> 4) === 6) {
        const code = escapePrefix(b, i - 6) << 4;
        if (code >= 0x80) {
          hex = code >> 4;
          escRow = (DIGIT_PAGE[code >> DIGIT_PAGE_BITS] << DIGIT_PAGE_BITS) | (code & 0x30);
        }
      } else if (c >= 0x80 && (d >> 4) === 2) {
        len = 2;
        lead = c;
        row = DIGIT_PAGE[c & 0x1f] << DIGIT_PAGE_BITS;
      } else if (c >= 0x80 && (d >> 4) === 3) {
        len = 3;
        lead = c;
        second = b[i - 2];
        row = DIGIT_PAGE[((c & 0x0f) << 6) | (second & 0x3f)] << DIGIT_PAGE_BITS;
      }
    }
  }
  return count;
}

/** Byte class: changes nothing while no chain is open (letters, punctuation, non-ASCII). */
export const PLAIN = 0;
/** Byte class: JSON structure (`"`, brackets and braces), in JSON text only. */
export const STRUCTURE = 1;
/** Byte class: an ASCII digit. */
export const DIGIT = 2;
/** Byte class: a backslash (a JSON escape may stand for a digit). */
export const ESCAPE = 3;
/** Byte class: a byte that may start a decimal digit beyond ASCII (see {@linkcode WIDE_DIGIT_LEAD}). */
export const WIDE = 5;
/**
 * Byte class, in a JSON string's contents: any other byte beyond ASCII (one a word test stops
 * at, stepped over one at a time).
 */
export const HIGH = 6;

/** The class of every byte value (0-255) for the scanner's fast path; `structure` bytes too. */
function classTable(structure: number[]): Uint8Array {
  const t = new Uint8Array(256).fill(PLAIN);
  for (let c = 48; c <= 57; c++) t[c] = DIGIT;
  t[BACKSLASH] = ESCAPE;
  for (const c of structure) t[c] = STRUCTURE;
  return t;
}

/** {@linkcode classTable} where a byte that may start a wide digit leaves the fast path. */
function wideClassTable(structure: number[], high: number): Uint8Array {
  const t = classTable(structure);
  for (let c = 0x80; c < 256; c++) t[c] = WIDE_DIGIT_LEAD[c] === 1 ? WIDE : high;
  return t;
}
/** Byte classes in JSON text outside strings (a quote and brackets are structure). */
export const CLASSES_JSON: Uint8Array = wideClassTable([QUOTE, 91, 93, 123, 125], PLAIN);
/** Byte classes inside a JSON string (only the closing quote is structure). */
export const CLASSES_JSON_STRING: Uint8Array = wideClassTable([QUOTE], HIGH);
/** Byte classes in plain text. */
export const CLASSES_TEXT: Uint8Array = wideClassTable([], PLAIN);
/** Byte class: a byte the check that the text is one JSON object must see (see grammar.ts). */
export const CHECKED = 4;
/**
 * {@linkcode CLASSES_JSON} while the walk also checks the grammar: only JSON whitespace is
 * plain, every other byte but structure, digits and the backslash is checked.
 */
export const CLASSES_JSON_CHECKED: Uint8Array = (() => {
  const t = classTable([QUOTE, 91, 93, 123, 125]);
  for (let c = 0; c < 256; c++) if (t[c] === PLAIN) t[c] = CHECKED;
  for (const c of [0x20, 0x09, 0x0a, 0x0d]) t[c] = PLAIN;
  return t;
})();
/**
 * {@linkcode CLASSES_JSON_STRING} while the walk also checks the grammar: control characters
 * and bytes beyond ASCII are checked.
 */
export const CLASSES_JSON_STRING_CHECKED: Uint8Array = (() => {
  const t = classTable([QUOTE]);
  for (let c = 0; c < 0x20; c++) t[c] = CHECKED;
  for (let c = 0x80; c < 256; c++) t[c] = CHECKED;
  return t;
})();

/** Byte -> the character a one-letter escape (`\n`, `\"`, ...) stands for, or -1. */
const SIMPLE_ESCAPES: Int32Array = (() => {
  const t = new Int32Array(256).fill(-1);
  const pairs = [[110, 10], [114, 13], [116, 9], [98, 8], [102, 12], [34, 34], [92, 92], [47, 47]];
  for (const [e, c] of pairs) t[e] = c;
  return t;
})();

/**
 * The character a JSON escape at `b[at]` (a backslash) stands for, or -1 when it is not one.
 * `end` bounds the read (the escape must lie before it).
 *
 * @example
 * ```ts
 * jsonEscape(new TextEncoder().encode("\\u0034"), 0, 6); // 52 ("4")
 * ```
 */
export function jsonEscape(b: Uint8Array, at: number, end: number): number {
  if (at + 1 >= end) return -1;
  const e = b[at + 1];
  if (e !== 117) return SIMPLE_ESCAPES[e];
  if (at + 5 >= end) return -1;
  const h = HEX_VALUES[b[at + 2]];
  const i = HEX_VALUES[b[at + 3]];
  const j = HEX_VALUES[b[at + 4]];
  const k = HEX_VALUES[b[at + 5]];
  return (h | i | j | k) < 0 ? -1 : (h << 12) | (i << 8) | (j << 4) | k;
}

/** Bytes a JSON escape at `b[at]` takes (6 for `\uXXXX`, else 2); only valid after a decode. */
export function escapeLength(b: Uint8Array, at: number): number {
  return b[at + 1] === 117 ? 6 : 2;
}

const utf8 = new TextDecoder();

/**
 * A member name's text from the bytes between its quotes (`b[start..end)`), escapes decoded
 * (kept raw if they are broken).
 */
export function memberName(b: Uint8Array, start: number, end: number): string {
  const raw = utf8.decode(b.subarray(start, end));
  if (!raw.includes("\\")) return raw;
  try {
    return JSON.parse(`"${raw}"`);
  } catch {
    return raw;
  }
}

/** Buffers larger than this get a view of their own each time (the last ones are not kept alive). */
const VIEW_KEPT_BYTES = 64 * 1024;
/** The view {@linkcode wordView} made last, and what it views. */
let viewBuffer: ArrayBufferLike | undefined;
let viewOffset = 0;
let viewLength = 0;
let lastView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
/** The one it made before. */
let priorBuffer: ArrayBufferLike | undefined;
let priorOffset = 0;
let priorLength = 0;
let priorView: DataView<ArrayBufferLike> = lastView;

/**
 * A view of exactly the bytes of `b`, to read them a word at a time: the body check, the scan and
 * its secret tracker each read the same body, and share one view of it. The views of the last two
 * bodies whose buffers are small (as pooled body buffers are) are kept for the next calls: a
 * proxied request's body and its answer's take two buffers of one pool, so consecutive requests'
 * bodies lie in two buffers by turns, and making a view costs more than the rest of the call.
 *
 * @example
 * ```ts
 * const b = new TextEncoder().encode("abcd");
 * wordView(b).getInt32(0, true) === wordView(b).getInt32(0, true); // true, one view
 * ```
 */
export function wordView(b: Uint8Array): DataView<ArrayBufferLike> {
  const buf = b.buffer;
  if (buf === viewBuffer && b.byteOffset === viewOffset && b.length === viewLength) {
    return lastView;
  }
  if (buf === priorBuffer && b.byteOffset === priorOffset && b.length === priorLength) {
    return priorView;
  }
  const view = new DataView(buf, b.byteOffset, b.length);
  if (buf.byteLength <= VIEW_KEPT_BYTES) {
    priorBuffer = viewBuffer;
    priorOffset = viewOffset;
    priorLength = viewLength;
    priorView = lastView;
    viewBuffer = buf;
    viewOffset = b.byteOffset;
    viewLength = b.length;
    lastView = view;
  }
  return view;
}
