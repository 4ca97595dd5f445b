/**
 * Character classes and JSON string escapes shared by the PII scanner, the SSN context rules and
 * the secret tracker. They all read UTF-8 bytes: every byte of a multi-byte character is >= 128,
 * so it is never a digit, a letter, a separator or JSON structure, just as a non-ASCII UTF-16
 * code unit is not.
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

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

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
 * Whether none of the four bytes of the little-endian word `w` is a quote, a backslash or an
 * ASCII digit: the bytes a JSON string's contents hold that matter to the scanner (any byte
 * from 0x80 is plain). Each byte is tested in its own lane without carries between lanes, so
 * the answer is exact.
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
  return ((quote | backslash | digit) & ~w & 0x80808080) === 0;
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

/** Byte class: changes nothing while no chain is open (letters, punctuation, non-ASCII). */
export const PLAIN = 0;
/** Byte class: JSON structure (`"`, brackets and braces), in JSON text only. */
export const STRUCTURE = 1;
/** Byte class: an ASCII digit. */
export const DIGIT = 2;
/** Byte class: a backslash (a JSON escape may stand for a digit). */
export const ESCAPE = 3;

/** The class of every byte value (0-255) for the scanner's fast path; `structure` bytes too. */
function classTable(structure: number[]): Uint8Array {
  const t = new Uint8Array(256).fill(PLAIN);
  for (let c = 48; c <= 57; c++) t[c] = DIGIT;
  t[BACKSLASH] = ESCAPE;
  for (const c of structure) t[c] = STRUCTURE;
  return t;
}
/** Byte classes in JSON text outside strings (a quote and brackets are structure). */
export const CLASSES_JSON: Uint8Array = classTable([QUOTE, 91, 93, 123, 125]);
/** Byte classes inside a JSON string (only the closing quote is structure). */
export const CLASSES_JSON_STRING: Uint8Array = classTable([QUOTE]);
/** Byte classes in plain text. */
export const CLASSES_TEXT: Uint8Array = classTable([]);
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
  const h = hexValue(b[at + 2]);
  const i = hexValue(b[at + 3]);
  const j = hexValue(b[at + 4]);
  const k = hexValue(b[at + 5]);
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

/** Buffers larger than this get a view of their own each time (the last one is not kept alive). */
const VIEW_KEPT_BYTES = 64 * 1024;
let viewBuffer: ArrayBufferLike | undefined;
let viewOffset = 0;
let viewLength = 0;
let lastView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/**
 * A view of exactly the bytes of `b`, to read them a word at a time: the body check, the scan and
 * its secret tracker each read the same body, and share one view of it (kept for the next call
 * while its buffer is small, as a pooled body buffer is).
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
  const view = new DataView(buf, b.byteOffset, b.length);
  if (buf.byteLength <= VIEW_KEPT_BYTES) {
    viewBuffer = buf;
    viewOffset = b.byteOffset;
    viewLength = b.length;
    lastView = view;
  }
  return view;
}
