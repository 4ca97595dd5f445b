/**
 * The byte-level JSON object check the sidecar ran before the PII scan's walk checked the grammar
 * itself (core/sidecar/json_bytes.ts at that time), kept as a reference the scan's check is
 * fuzzed against: a strict check, over a body's UTF-8 bytes, that the body is one JSON object:
 * what decoding it with a fatal UTF-8 decoder and `JSON.parse` would accept as a non-array
 * object, without building the string or the object. It only ever says yes when both would;
 * anything it is not sure of (a byte order mark, nesting deeper than it tracks) it answers no.
 * @module
 */

import { wordView } from "../../../../core/pii/mod.ts";

/** Not a JSON object, or not sure (the caller decodes and parses to find out which). */
export const NOT_OBJECT = -1;
/** A JSON object, all ASCII. */
export const OBJECT_ASCII = 0;
/** A JSON object holding characters beyond ASCII (in its strings). */
export const OBJECT_UTF8 = 1;

/** Deepest nesting tracked; deeper bodies are left to the long way. */
const MAX_DEPTH = 256;
/** Open containers, one byte each ({ or [); reused, the check is synchronous. */
const stack = new Uint8Array(MAX_DEPTH);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;

/** 1 for JSON whitespace (space, tab, LF, CR). */
const SPACE = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) SPACE[c] = 1;
/** 1 for a byte a string holds as it is: ASCII from 0x20, but the quote and the backslash. */
const PLAIN_IN_STRING = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) PLAIN_IN_STRING[c] = c === QUOTE || c === BACKSLASH ? 0 : 1;
/** 1 for a character that may follow a backslash (`u` is checked on its own). */
const ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') ESCAPE[c.charCodeAt(0)] = 1;
/** 1 for a hexadecimal digit. */
const HEX = new Uint8Array(256);
for (const c of "0123456789abcdefABCDEF") HEX[c.charCodeAt(0)] = 1;

/** Whether a non-ASCII byte was seen by the last string check. */
let wide = false;

const NO_VIEW = new DataView(new ArrayBuffer(0));
/** The bytes being checked, read a word at a time (during one check; then none). */
let view: DataView<ArrayBufferLike> = NO_VIEW;

/**
 * Whether `b` is a JSON object as `JSON.parse(new TextDecoder("utf-8", { fatal: true })
 * .decode(b))` reads it: {@linkcode OBJECT_ASCII} or {@linkcode OBJECT_UTF8} when it certainly
 * is, {@linkcode NOT_OBJECT} when it is not or the check cannot tell (a leading byte order
 * mark, which the decoder drops; nesting deeper than 256).
 *
 * @example
 * ```ts
 * jsonObjectBytes(new TextEncoder().encode('{"a":[1,"é"]}')); // OBJECT_UTF8
 * jsonObjectBytes(new TextEncoder().encode("[1]")); // NOT_OBJECT
 * ```
 */
export function jsonObjectBytes(b: Uint8Array): number {
  view = wordView(b);
  const shape = check(b);
  view = NO_VIEW;
  return shape;
}

/** {@linkcode jsonObjectBytes} while {@linkcode view} reads `b`. */
function check(b: Uint8Array): number {
  const n = b.length;
  wide = false;
  let i = skipSpace(b, 0, n);
  if (i >= n || b[i] !== LBRACE) return NOT_OBJECT;
  let depth = 0;
  // `i` is at the start of a value; after it, at what follows the value.
  for (;;) {
    const c = b[i];
    if (c === LBRACE || c === LBRACKET) {
      if (depth === MAX_DEPTH) return NOT_OBJECT;
      stack[depth++] = c;
      i = skipSpace(b, i + 1, n);
      if (i >= n) return NOT_OBJECT;
      if (b[i] !== closer(c)) {
        if (c === LBRACE && (i = memberName(b, i, n)) < 0) return NOT_OBJECT;
        continue;
      }
      depth--; // an empty container
      i++;
    } else if (c === QUOTE) {
      // A string value's leading plain text four bytes per test (see PLAIN_WORD; written out, as
      // calls they took the inlining budget V8 then lacked for memberName), then byte by byte.
      let j = i + 1;
      for (; j + 4 <= n; j += 4) {
        const w = view.getInt32(j, true);
        const stop = w | ~(w + 0x60606060) | ((w + 0x5e5e5e5e) ^ (w + 0x5d5d5d5d)) |
          ((w + 0x24242424) ^ (w + 0x23232323));
        if ((stop & 0x80808080) !== 0) break;
      }
      i = stringEnd(b, j, n);
    } else if (c === MINUS || (c >= 0x30 && c <= 0x39)) i = numberEnd(b, i, n);
    else if (c === 0x74) i = literalEnd(b, i, n, "true");
    else if (c === 0x66) i = literalEnd(b, i, n, "false");
    else if (c === 0x6e) i = literalEnd(b, i, n, "null");
    else return NOT_OBJECT;
    if (i < 0) return NOT_OBJECT;
    // After a value: commas and closing brackets until the next value starts.
    for (;;) {
      i = skipSpace(b, i, n);
      if (depth === 0) return i === n ? (wide ? OBJECT_UTF8 : OBJECT_ASCII) : NOT_OBJECT;
      if (i >= n) return NOT_OBJECT;
      const open = stack[depth - 1];
      const d = b[i];
      if (d === COMMA) {
        i = skipSpace(b, i + 1, n);
        if (open === LBRACE) {
          i = memberName(b, i, n);
          if (i < 0) return NOT_OBJECT;
        }
        break;
      }
      if (d !== closer(open)) return NOT_OBJECT;
      depth--;
      i++;
    }
    if (i >= n) return NOT_OBJECT;
  }
}

/** The bracket that closes `open`. */
function closer(open: number): number {
  return open === LBRACE ? RBRACE : RBRACKET;
}

/** Past JSON whitespace from `i`. */
function skipSpace(b: Uint8Array, i: number, n: number): number {
  while (i < n && SPACE[b[i]] === 1) i++;
  return i;
}

/** A member name at `i`, its colon and the space after: where the value starts, or -1. */
function memberName(b: Uint8Array, i: number, n: number): number {
  if (i >= n || b[i] !== QUOTE) return -1;
  i = stringEnd(b, i + 1, n);
  if (i < 0) return -1;
  i = skipSpace(b, i, n);
  if (i >= n || b[i] !== COLON) return -1;
  i = skipSpace(b, i + 1, n);
  return i < n ? i : -1;
}

/*
 * PLAIN_WORD: the four bytes of a little-endian word `w` are all held by a string as they are
 * (ASCII from 0x20, but the quote and the backslash) iff bit 7 of no byte is set in
 * `w | ~(w + 0x60606060) | ((w + 0x5e5e5e5e) ^ (w + 0x5d5d5d5d)) | ((w + 0x24242424) ^
 * (w + 0x23232323))`: a byte's own bit 7 is set when it is not ASCII, and adding 0x80 - k to an
 * ASCII byte sets its bit 7 iff the byte is >= k (no carry leaves an ASCII byte's lane), so the
 * terms mark a control character (< 0x20), a quote (>= 0x22, not >= 0x23) and a backslash.
 */

/** Past the closing quote of the string whose contents start at `i`, or -1. */
function stringEnd(b: Uint8Array, i: number, n: number): number {
  while (i < n) {
    const c = b[i];
    if (PLAIN_IN_STRING[c] === 1) {
      i++;
    } else if (c === QUOTE) {
      return i + 1;
    } else if (c === BACKSLASH) {
      if (i + 1 >= n) return -1;
      const e = b[i + 1];
      if (ESCAPE[e] === 1) i += 2;
      else if (e === 0x75) {
        if (i + 5 >= n) return -1;
        if ((HEX[b[i + 2]] & HEX[b[i + 3]] & HEX[b[i + 4]] & HEX[b[i + 5]]) === 0) return -1;
        i += 6;
      } else return -1;
    } else if (c < 0x80) {
      return -1; // a control character
    } else {
      i = utf8End(b, i, n);
      if (i < 0) return -1;
      wide = true;
    }
  }
  return -1;
}

/**
 * Past the UTF-8 sequence whose lead byte is at `i`, or -1 where a fatal decoder fails
 * (WHATWG Encoding: no overlong forms, no surrogates, nothing above U+10FFFF).
 */
function utf8End(b: Uint8Array, i: number, n: number): number {
  const c = b[i];
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c === 0xe0) lo = 0xa0;
    else if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c === 0xf0) lo = 0x90;
    else if (c === 0xf4) hi = 0x8f;
  } else return -1;
  if (i + need >= n) return -1;
  const c1 = b[i + 1];
  if (c1 < lo || c1 > hi) return -1;
  for (let k = 2; k <= need; k++) {
    const ck = b[i + k];
    if (ck < 0x80 || ck > 0xbf) return -1;
  }
  return i + need + 1;
}

/** Past the number starting at `i` (JSON grammar: no leading zeros, no lone dot), or -1. */
function numberEnd(b: Uint8Array, i: number, n: number): number {
  if (b[i] === MINUS) i++;
  if (i >= n) return -1;
  if (b[i] === 0x30) i++;
  else {
    const start = i;
    i = digitsEnd(b, i, n);
    if (i === start) return -1;
  }
  if (i < n && b[i] === 0x2e) {
    const start = ++i;
    i = digitsEnd(b, i, n);
    if (i === start) return -1;
  }
  if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < n && (b[i] === 0x2b || b[i] === MINUS)) i++;
    const start = i;
    i = digitsEnd(b, i, n);
    if (i === start) return -1;
  }
  return i;
}

/** Past the ASCII digits from `i`. */
function digitsEnd(b: Uint8Array, i: number, n: number): number {
  while (i < n && b[i] >= 0x30 && b[i] <= 0x39) i++;
  return i;
}

/** Past `word` when it is at `i`, or -1. */
function literalEnd(b: Uint8Array, i: number, n: number, word: string): number {
  if (i + word.length > n) return -1;
  for (let k = 1; k < word.length; k++) {
    if (b[i + k] !== word.charCodeAt(k)) return -1;
  }
  return i + word.length;
}
