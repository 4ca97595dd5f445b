/**
 * Request-target hygiene for a client that forwards paths it did not choose: RFC 3986 dot
 * segment removal that also sees percent-encoded dots and refuses to climb above the root, a
 * check of what a path or query may hold, and a lenient percent-decoder for inspecting
 * (never forwarding) what a target says.
 * @module
 */

/** A path or query that cannot be forwarded safely, and why. */
export class TargetError extends Error {
  override name = "TargetError";
}

const SLASH = 47;
const PERCENT = 37;
/** Printable ASCII a path or query may hold as it is (no SP, `#`, `\` or controls). */
const TARGET_CHAR = new Uint8Array(128);
for (let c = 0x21; c <= 0x7e; c++) TARGET_CHAR[c] = 1;
TARGET_CHAR[0x23] = 0; // '#': a fragment never belongs in a request target
TARGET_CHAR[0x5c] = 0; // '\': WHATWG URL parsers read it as '/'

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Checks the characters of a path or query: printable ASCII without `#` or `\`, every `%`
 * starting a valid escape, and no escaped NUL, CR or LF.
 *
 * @example
 * ```ts
 * checkTargetText("a=1&b=%20", "query"); // fine
 * checkTargetText("a=%00", "query"); // throws TargetError
 * ```
 * @throws {TargetError} naming the first problem.
 */
export function checkTargetText(text: string, what: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TARGET_CHAR[c] === 0) {
      throw new TargetError(`${what} holds a character that must be percent-encoded`);
    }
    if (c !== PERCENT) continue;
    const hi = hexValue(text.charCodeAt(i + 1));
    const lo = hexValue(text.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) throw new TargetError(`${what} holds an invalid percent-escape`);
    const byte = hi * 16 + lo;
    if (byte === 0 || byte === 10 || byte === 13) {
      throw new TargetError(`${what} holds an escaped NUL, CR or LF`);
    }
    i += 2;
  }
}

/** 1 for `.`, 2 for `..` (each dot written as `.` or `%2e`, RFC 3986 §2.3), else 0. */
function dotCount(s: string, from: number, to: number): number {
  let dots = 0;
  let i = from;
  while (i < to) {
    if (s.charCodeAt(i) === 46) i++;
    else if (
      s.charCodeAt(i) === PERCENT && s.charCodeAt(i + 1) === 50 &&
      (s.charCodeAt(i + 2) | 32) === 101
    ) i += 3;
    else return 0;
    if (++dots > 2) return 0;
  }
  return dots;
}

/** True when an escaped `/` or `\` splits a segment into pieces one of which is a dot segment. */
function hidesDotSegment(seg: string): boolean {
  const pieces = seg.split(/%2f|%5c/i);
  return pieces.length > 1 && pieces.some((p) => dotCount(p, 0, p.length) > 0);
}

/**
 * Removes the dot segments of an absolute path (RFC 3986 §5.2.4), reading `%2e` as a dot.
 * Other segments are kept exactly as written. Characters are checked with
 * {@linkcode checkTargetText}.
 *
 * @example
 * ```ts
 * normalizePath("/a/./b/%2E%2e/c"); // "/a/c"
 * normalizePath("/a/.."); // "/"
 * normalizePath("/../etc"); // throws TargetError: climbs above the root
 * ```
 * @throws {TargetError} when the path does not start with `/`, climbs above its root, hides a
 * dot segment behind an escaped slash, or holds a character {@linkcode checkTargetText} refuses.
 */
export function normalizePath(path: string): string {
  if (path.charCodeAt(0) !== SLASH) throw new TargetError("path must start with /");
  checkTargetText(path, "path");
  if (!path.includes(".") && !/%2e/i.test(path)) return path;
  const out: string[] = [];
  let trailingSlash = false;
  let start = 1;
  while (start <= path.length) {
    let end = path.indexOf("/", start);
    if (end < 0) end = path.length;
    const last = end === path.length;
    const dots = dotCount(path, start, end);
    if (dots === 1) {
      trailingSlash = last;
    } else if (dots === 2) {
      if (out.length === 0) throw new TargetError("path climbs above its root");
      out.pop();
      trailingSlash = last;
    } else {
      const seg = path.slice(start, end);
      if (hidesDotSegment(seg)) throw new TargetError("path hides a dot segment in an escape");
      out.push(seg);
      trailingSlash = false;
    }
    start = end + 1;
  }
  return "/" + out.join("/") + (trailingSlash && out.length > 0 ? "/" : "");
}

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

/**
 * Decodes percent-escapes (and `+` as a space when `plusAsSpace`), leniently: an invalid
 * escape stays as written and invalid UTF-8 becomes U+FFFD. For inspecting what a target
 * means to a server that decodes it; never forward the result.
 *
 * @example
 * ```ts
 * percentDecode("4532%2D0151+1283", true); // "4532-0151 1283"
 * ```
 */
export function percentDecode(text: string, plusAsSpace = false): string {
  if (!text.includes("%") && !(plusAsSpace && text.includes("+"))) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === PERCENT) {
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        bytes.push(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    if (c === 43 && plusAsSpace) bytes.push(32);
    else if (c < 128) bytes.push(c);
    else {
      const cp = text.codePointAt(i) ?? c;
      for (const b of utf8Encoder.encode(String.fromCodePoint(cp))) bytes.push(b);
      if (cp > 0xffff) i++;
    }
  }
  return utf8.decode(Uint8Array.from(bytes));
}
