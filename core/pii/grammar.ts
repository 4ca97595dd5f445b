/**
 * The PII scanner's check, in its own walk, that JSON text is one JSON object: what
 * `JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes))` reads as an object that
 * is not an array. The walk (skip.ts, scan.ts) tells it what it meets: outside strings each
 * bracket, quote and digit, and every other byte but plain spaces; inside strings every byte
 * that is not plain (control characters, bytes beyond ASCII, escapes). A number or a literal
 * is read whole where it starts, and whatever the walk then passes over inside it is taken as
 * read. It only ever vouches for text both would accept; what it cannot vouch for (a byte
 * order mark, which the decoder drops; nesting deeper than 256) it refuses, and the caller goes
 * the long way (decoding and parsing), which also words the refusal.
 * @module
 */
import { Windows } from "./windows.ts";

/** Before the top-level object: only spaces and `{`. */
const TOP = 0;
/** After `{`: a member name or `}`. */
const NAME_OR_CLOSE = 1;
/** After a comma in an object: a member name. */
const NAME = 2;
/** After a member name: a colon. */
const COLON_NEXT = 3;
/** After a colon or a comma in an array: a value. */
const VALUE = 4;
/** After `[`: a value or `]`. */
const VALUE_OR_CLOSE = 5;
/** After a value: a comma or the bracket that closes the container. */
const AFTER = 6;
/** After the top-level object: only spaces. */
const END = 7;

const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;

/** Deepest nesting the check follows; deeper text is refused (the long way decides it). */
export const MAX_CHECKED_DEPTH = 256;

/** 1 for JSON whitespace (space, tab, LF, CR). */
const SPACE = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) SPACE[c] = 1;

/** The grammar of one JSON object, followed during the scanner's walk. */
export class JsonGrammar extends Windows {
  /** Set when the walk also checks that the text is one JSON object. */
  checking = false;
  /** The text is not one JSON object, or the check cannot vouch for it: the walk stopped. */
  refused = false;
  /** A byte beyond ASCII was met (in a string: anywhere else it is refused). */
  wide = false;
  /** What may come next (one of the states above). */
  grammar = TOP;
  /** The string open is a member name. */
  nameOpen = false;
  /** The number or literal that starts a value was read up to here (its bytes are taken). */
  tokenEnd = 0;
  /** The open containers, `{` or `[` each. */
  readonly opens = new Uint8Array(MAX_CHECKED_DEPTH);
  openCount = 0;

  /** Starts the check of a new text (or none). */
  resetGrammar(checking: boolean): void {
    this.checking = checking;
    this.refused = this.wide = this.nameOpen = false;
    this.grammar = TOP;
    this.tokenEnd = this.openCount = 0;
  }

  /** Whether the walk that ended vouched for one JSON object. */
  get isObject(): boolean {
    return this.checking && !this.refused && this.grammar === END;
  }

  /** Refuses the text; returns false (the walk stops). */
  refuse(): false {
    this.refused = true;
    return false;
  }

  /** Refuses the text; returns -1 (no index to go on from). */
  refuseAt(): number {
    this.refused = true;
    return -1;
  }

  /** A quote opens a string: false where no string may stand. */
  openString(): boolean {
    const g = this.grammar;
    if (g === NAME_OR_CLOSE || g === NAME) this.nameOpen = true;
    else if (g === VALUE || g === VALUE_OR_CLOSE) this.nameOpen = false;
    else return this.refuse();
    return true;
  }

  /** The open string closed. */
  closeStringGrammar(): void {
    this.grammar = this.nameOpen ? COLON_NEXT : AFTER;
  }

  /** A member name and the colon right after it were passed whole: false where no name may stand. */
  namePassed(): boolean {
    const g = this.grammar;
    if (g !== NAME_OR_CLOSE && g !== NAME) return this.refuse();
    this.grammar = VALUE;
    return true;
  }

  /** `{` or `[` (`c`): false where it may not stand, or nesting is deeper than the check follows. */
  openContainer(c: number): boolean {
    const g = this.grammar;
    if (!(g === VALUE || g === VALUE_OR_CLOSE || (g === TOP && c === LBRACE))) {
      return this.refuse();
    }
    if (this.openCount === MAX_CHECKED_DEPTH) return this.refuse();
    this.opens[this.openCount++] = c;
    this.grammar = c === LBRACE ? NAME_OR_CLOSE : VALUE_OR_CLOSE;
    return true;
  }

  /** `}` or `]` (`c`): false unless it closes the open container here. */
  closeContainer(c: number): boolean {
    const g = this.grammar;
    if (this.openCount === 0) return this.refuse();
    const open = this.opens[this.openCount - 1];
    const ok = c === RBRACE
      ? open === LBRACE && (g === NAME_OR_CLOSE || g === AFTER)
      : open === LBRACKET && (g === VALUE_OR_CLOSE || g === AFTER);
    if (!ok) return this.refuse();
    this.grammar = --this.openCount === 0 ? END : AFTER;
    return true;
  }

  /**
   * A digit outside strings at `i`: inside the number read at its start, or a number starting
   * there, read whole (JSON's grammar: no leading zero, no lone dot). False where it may not.
   */
  digitAt(i: number): boolean {
    if (i < this.tokenEnd) return true;
    return this.valueToken(numberEnd(this.b, i, this.n));
  }

  /**
   * The walk passed over the bytes `[from, to)` outside strings as one run of digits and
   * separators: past the number read at its start, only spaces may follow.
   */
  passedRun(from: number, to: number): boolean {
    const b = this.b;
    for (let k = from > this.tokenEnd ? from : this.tokenEnd; k < to; k++) {
      if (SPACE[b[k]] !== 1) return this.refuse();
    }
    return true;
  }

  /**
   * Any other byte `c` at `i` outside strings (not a quote, bracket, brace or digit): spaces,
   * a colon, a comma, the start of a negative number or of `true`, `false` or `null`, or a
   * byte of a number or literal read at its start. Returns the index to go on from (past a
   * literal, else `i + 1`), or -1 where the byte may not stand.
   */
  otherByte(c: number, i: number): number {
    if (i < this.tokenEnd || SPACE[c] === 1) return i + 1;
    const g = this.grammar;
    if (c === COLON) {
      if (g !== COLON_NEXT) return this.refuseAt();
      this.grammar = VALUE;
      return i + 1;
    }
    if (c === COMMA) {
      if (g !== AFTER || this.openCount === 0) return this.refuseAt();
      this.grammar = this.opens[this.openCount - 1] === LBRACE ? NAME : VALUE;
      return i + 1;
    }
    const b = this.b;
    const n = this.n;
    if (c === MINUS) return this.valueToken(numberEnd(b, i, n)) ? i + 1 : -1;
    let end = -1;
    if (c === 0x74) end = literalEnd(b, i, n, TRUE);
    else if (c === 0x66) end = literalEnd(b, i, n, FALSE);
    else if (c === 0x6e) end = literalEnd(b, i, n, NULL);
    return this.valueToken(end) ? end : -1;
  }

  /** Whether a value may stand next. */
  get expectsValue(): boolean {
    return this.grammar === VALUE || this.grammar === VALUE_OR_CLOSE;
  }

  /** Whether a member name may stand next. */
  get expectsName(): boolean {
    return this.grammar === NAME || this.grammar === NAME_OR_CLOSE;
  }

  /**
   * A comma outside strings where one may stand (after a value in a container), taken as
   * {@linkcode otherByte} takes it; false (nothing changed) elsewhere, for otherByte to refuse.
   * Small, so the walk's loop takes it in at every comma instead of calling otherByte.
   */
  comma(): boolean {
    const count = this.openCount;
    if (this.grammar !== AFTER || count === 0) return false;
    this.grammar = this.opens[count - 1] === LBRACE ? NAME : VALUE;
    return true;
  }

  /** A number or literal that ends at `end` (-1: malformed), where a value may stand. */
  valueToken(end: number): boolean {
    const g = this.grammar;
    if (end < 0 || (g !== VALUE && g !== VALUE_OR_CLOSE)) return this.refuse();
    this.tokenEnd = end;
    this.grammar = AFTER;
    return true;
  }

  /**
   * A byte in a string that is not plain ASCII, `c` at `i` (a control character, a byte
   * beyond ASCII or a backslash): the index after it (after the whole UTF-8 sequence or
   * escape), or -1 where the decoder or the parser would fail.
   */
  stringByte(c: number, i: number): number {
    if (c < 0x20) return this.refuseAt();
    if (c === 0x5c) {
      const e = escapeEnd(this.b, i, this.n);
      if (e < 0) this.refused = true;
      return e;
    }
    const e = utf8End(this.b, i, this.n);
    if (e < 0) {
      this.refused = true;
    } else {
      // Context windows look back from where the walk is: ASCII until the first wide byte.
      this.wide = true;
      this.ascii = false;
    }
    return e;
  }
}

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

/** 1 for a character that may follow a backslash (`u` is checked on its own). */
const ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') ESCAPE[c.charCodeAt(0)] = 1;
/** 1 for a hexadecimal digit. */
const HEX = new Uint8Array(256);
for (const c of "0123456789abcdefABCDEF") HEX[c.charCodeAt(0)] = 1;

/** Past the escape whose backslash is at `i` (before `n`), or -1 when it is not one. */
function escapeEnd(b: Uint8Array, i: number, n: number): number {
  if (i + 1 >= n) return -1;
  const e = b[i + 1];
  if (ESCAPE[e] === 1) return i + 2;
  if (e !== 0x75 || i + 5 >= n) return -1;
  return (HEX[b[i + 2]] & HEX[b[i + 3]] & HEX[b[i + 4]] & HEX[b[i + 5]]) === 0 ? -1 : i + 6;
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

/** Past the number starting at `i` (JSON's grammar), or -1. */
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

function digitsEnd(b: Uint8Array, i: number, n: number): number {
  while (i < n && b[i] >= 0x30 && b[i] <= 0x39) i++;
  return i;
}

/** Past `word` (its bytes) when it is at `i`, or -1. */
function literalEnd(b: Uint8Array, i: number, n: number, word: number[]): number {
  if (i + word.length > n) return -1;
  for (let k = 1; k < word.length; k++) if (b[i + k] !== word[k]) return -1;
  return i + word.length;
}
