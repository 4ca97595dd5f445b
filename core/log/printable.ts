/**
 * Text as it may be written where a person reads it (a terminal, a log viewer): control and
 * format characters spelled as `\uXXXX`.
 * @module
 */

/**
 * Control characters (C0, DEL, C1), format characters (bidirectional overrides such as U+202E,
 * zero-width ones such as U+200B, U+FEFF) and the line and paragraph separators U+2028/U+2029.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;
const UNPRINTABLE_ALL = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

/** `\uXXXX` for each UTF-16 unit of `c` (a pair for a character beyond the BMP). */
function spelled(c: string): string {
  let out = "";
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return out;
}

/**
 * `text` with every control or format character, and U+2028/U+2029, written as `\uXXXX`: a name
 * from a client or a file shown on a terminal cannot move the cursor, erase what came before it,
 * start a line of its own, be drawn in another order (`evil\u202Egnp.exe`) or hide a character.
 * Inside a JSON string the result still decodes to `text`.
 *
 * @example
 * ```ts
 * printable("a\u001b[2Kb\u202ec"); // "a\\u001b[2Kb\\u202ec"
 * ```
 */
export function printable(text: string): string {
  return UNPRINTABLE.test(text) ? text.replace(UNPRINTABLE_ALL, spelled) : text;
}
