/**
 * Character classes and JSON string escapes shared by the PII scanner and the secret tracker:
 * char codes the state machine tests, the fast-path tables, and escape decoding.
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

/** 1 for characters that neither start a digit group nor change JSON structure. */
function boringTable(json: boolean): Uint8Array {
  const t = new Uint8Array(128).fill(1);
  for (let c = 48; c <= 57; c++) t[c] = 0;
  t[BACKSLASH] = 0;
  if (json) { for (const c of [QUOTE, 91, 93, 123, 125]) t[c] = 0; }
  return t;
}
/** Fast-path table for JSON text (quotes and brackets matter). */
export const BORING_JSON: Uint8Array = boringTable(true);
/** Fast-path table for plain text. */
export const BORING_TEXT: Uint8Array = boringTable(false);

const SIMPLE_ESCAPES: Record<number, number> = {
  110: 10, // \n
  114: 13, // \r
  116: 9, // \t
  98: 8, // \b
  102: 12, // \f
  34: 34, // \"
  92: 92, // \\
  47: 47, // \/
};

/**
 * The character a JSON escape at `text[at]` (a backslash) stands for, or -1 when it is not one.
 *
 * @example
 * ```ts
 * jsonEscape("\\u0034", 0); // 52 ("4")
 * ```
 */
export function jsonEscape(text: string, at: number): number {
  const e = text.charCodeAt(at + 1);
  if (e !== 117) return SIMPLE_ESCAPES[e] ?? -1;
  if (at + 5 >= text.length) return -1;
  const a = hexValue(text.charCodeAt(at + 2));
  const b = hexValue(text.charCodeAt(at + 3));
  const c = hexValue(text.charCodeAt(at + 4));
  const d = hexValue(text.charCodeAt(at + 5));
  return (a | b | c | d) < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

/** A member name's text between its quotes, escapes decoded (kept raw if they are broken). */
export function memberName(raw: string): string {
  if (!raw.includes("\\")) return raw;
  try {
    return JSON.parse(`"${raw}"`);
  } catch {
    return raw;
  }
}
