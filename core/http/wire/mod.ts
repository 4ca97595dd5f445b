/**
 * Heads written as bytes where they go, with no string made of them: the HTTP/1.1 server's
 * answers and the client's requests. Header values are byte strings (characters up to U+00FF),
 * each character one byte; a field line whose short value repeats (a score, a flag) is copied
 * from bytes kept for it, any other value (a trace id, a content type) is written where it goes.
 * No secret field's value, and no string that may keep a request head alive, is kept.
 * @module
 */

/**
 * A header field to write: its name and value, and optionally the value's char codes (the same
 * text, each code one byte: an id made as codes before its string), which are copied as they
 * are instead of reading the value's chars.
 */
export type FieldPair = [name: string, value: string, codes?: readonly number[]];

/** `content-length: ` as bytes. */
export const CONTENT_LENGTH: Uint8Array = latin1Bytes("content-length: ");

/** A header field's line as bytes (`name: value\r\n`), kept while its value repeats. */
interface LineMemo {
  /** `name: ` as bytes. */
  readonly name: Uint8Array;
  /** False for a field that carries a secret: its value is never kept. */
  readonly keeps: boolean;
  /** The last value, when it may be kept (see {@linkcode KEPT_VALUE_CHARS}). */
  value: string | undefined;
  /** The whole line, made once the value was seen twice in a row. */
  line: Uint8Array | undefined;
  /**
   * The line of an earlier value: the next line of the same length is written over its bytes (a
   * value that changes and repeats by turns, as a latency of 0 or 1 ms, would otherwise cost a
   * new byte array each time, which costs more than the rest of the head).
   */
  spare: Uint8Array | undefined;
  /** A line made at start ({@linkcode keepFieldLine}): another value never replaces it. */
  readonly pinned?: true;
}

/**
 * Fields whose values are secrets (credentials, sessions): their values are never kept once
 * written, whatever their length.
 */
const SECRET_FIELDS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
]);

/**
 * Values kept are shorter than this. A longer string may be V8's view into the whole text it was
 * cut from (V8 makes such views from 13 chars on): a value taken from a request head would keep
 * that whole head alive, its Authorization and cookies with it, for as long as it is kept. The
 * values that repeat are short (content types of up to 12 chars, scores, flags).
 */
const KEPT_VALUE_CHARS = 13;

/** Field names whose lines are remembered (heads carry the same few names). */
const lineMemos = new Map<string, LineMemo>();
/** Most names {@linkcode lineMemos} holds before it starts over. */
const LINE_MEMOS = 64;
/** The lines {@linkcode keepFieldLine} made, kept when {@linkcode lineMemos} starts over. */
const pinnedMemos = new Map<string, LineMemo>();

/**
 * Makes the line of field `name` with the one `value` it carries (a constant of a service's own,
 * however long) once, now: {@linkcode putField} copies it from then on. Not for a secret.
 * @example
 * ```ts
 * keepFieldLine("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
 * ```
 */
export function keepFieldLine(name: string, value: string): void {
  const memo: LineMemo = {
    name: latin1Bytes(`${name}: `),
    keeps: true,
    value,
    line: undefined,
    spare: undefined,
    pinned: true,
  };
  memo.line = lineOf(memo, value);
  pinnedMemos.set(name, memo);
  lineMemos.set(name, memo);
}

/**
 * Writes `s` (characters up to U+00FF, one byte each) at `pos`; returns the position after it.
 * The caller made sure there is room.
 */
export function putLatin1(buf: Uint8Array, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[pos + i] = s.charCodeAt(i);
  return pos + s.length;
}

/**
 * `text` (characters up to U+00FF) one byte each.
 * @example
 * ```ts
 * latin1Bytes("a\u00e9"); // Uint8Array [0x61, 0xe9]
 * ```
 */
export function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  putLatin1(out, 0, text);
  return out;
}

/** How many decimal digits `n` (a non-negative integer) has. */
export function digitCount(n: number): number {
  let len = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) len++;
  return len;
}

/** Writes the decimal digits of `n` (a non-negative integer) at `pos`; the position after. */
export function putDigits(buf: Uint8Array, pos: number, n: number): number {
  const len = digitCount(n);
  for (let i = pos + len - 1; i >= pos; i--) {
    buf[i] = 48 + n % 10;
    n = Math.floor(n / 10);
  }
  return pos + len;
}

/** Writes CR LF at `pos`; the position after. */
export function putCrlf(buf: Uint8Array, pos: number): number {
  buf[pos] = 13;
  buf[pos + 1] = 10;
  return pos + 2;
}

/** Bytes of the line `name: value\r\n` ({@linkcode putField} writes). */
export function fieldLength(name: string, value: string): number {
  return name.length + value.length + 4;
}

/**
 * Writes the field line `name: value\r\n` at `pos` (from bytes kept for it when the name came
 * with the same short value last time; a secret field's value is never kept); returns the
 * position after it. `codes`, when given, are the value's char codes (as
 * {@linkcode FieldPair} carries them) and are copied instead of its chars. The caller made sure
 * there is room ({@linkcode fieldLength}).
 */
export function putField(
  buf: Uint8Array,
  pos: number,
  name: string,
  value: string,
  codes?: readonly number[],
): number {
  let memo = lineMemos.get(name);
  if (memo !== undefined && memo.value === value) {
    const line = memo.line ??= lineOf(memo, value);
    buf.set(line, pos);
    return pos + line.length;
  }
  if (memo?.pinned === true) {
    // Another value for a field whose line was made at start: written, the line kept.
    buf.set(memo.name, pos);
    return putCrlf(buf, putValue(buf, pos + memo.name.length, value));
  }
  if (memo === undefined) {
    if (lineMemos.size >= LINE_MEMOS) startOver();
    const keeps = !SECRET_FIELDS.has(name.toLowerCase());
    const nameBytes = latin1Bytes(`${name}: `);
    memo = { name: nameBytes, keeps, value: undefined, line: undefined, spare: undefined };
    lineMemos.set(name, memo);
  }
  memo.value = memo.keeps && value.length < KEPT_VALUE_CHARS ? value : undefined;
  if (memo.line !== undefined) {
    memo.spare = memo.line;
    memo.line = undefined;
  }
  buf.set(memo.name, pos);
  pos += memo.name.length;
  if (codes === undefined) return putCrlf(buf, putValue(buf, pos, value));
  for (let i = 0; i < codes.length; i++) buf[pos + i] = codes[i];
  return putCrlf(buf, pos + codes.length);
}

/**
 * Writes a value seen once (a trace id, a latency) at `pos`, one byte per char: a loop V8
 * inlines here costs less than a call out of it (`TextEncoder.encodeInto` cost about 1,600
 * instructions a value).
 */
function putValue(buf: Uint8Array, pos: number, value: string): number {
  return putLatin1(buf, pos, value);
}

/** Empties {@linkcode lineMemos} but for the lines made at start. */
function startOver(): void {
  lineMemos.clear();
  for (const [name, memo] of pinnedMemos) lineMemos.set(name, memo);
}

/** The line of `memo`'s field with `value`: over its spare line's bytes when of the same length. */
function lineOf(memo: LineMemo, value: string): Uint8Array {
  const name = memo.name;
  const length = name.length + value.length + 2;
  const spare = memo.spare;
  if (spare !== undefined && spare.length === length) {
    // The name and the CRLF are in place: only the value changes.
    memo.spare = undefined;
    putLatin1(spare, name.length, value);
    return spare;
  }
  const line = new Uint8Array(length);
  line.set(name);
  putCrlf(line, putLatin1(line, name.length, value));
  return line;
}

/**
 * A view of exactly the bytes of a buffer, for {@linkcode sameBytesAt}: a DataView, with the
 * same bytes as 32-bit words (`words`, empty when the bytes do not start on a 4-byte boundary
 * of their memory).
 */
export class WordView extends DataView<ArrayBufferLike> {
  /** The bytes as whole 32-bit words, from the first (a trailing 1-3 bytes are not in it). */
  readonly words: Int32Array;
  constructor(b: Uint8Array) {
    super(b.buffer, b.byteOffset, b.byteLength);
    this.words = (b.byteOffset & 3) === 0
      ? new Int32Array(b.buffer, b.byteOffset, b.byteLength >> 2)
      : NO_WORDS;
  }
}

const NO_WORDS = new Int32Array(0);

/**
 * A view of exactly the bytes of `b`, for {@linkcode sameBytesAt} (made once per buffer by its
 * owner: a view per call would cost more than the comparison saves).
 */
export function viewOf(b: Uint8Array): WordView {
  return new WordView(b);
}

/**
 * Whether `a[start:start + n)` equals `b[0:n)`, compared four bytes at a time (a remembered head
 * against the read buffer). `av` and `bv` are {@linkcode viewOf} `a` and `b`. Where both runs
 * start on a word of their views (a head at the start of a read buffer, as a rule), the words
 * are compared as array elements, which costs about half what a DataView read does.
 * @example
 * ```ts
 * const a = latin1Bytes("xxHTTP/1.1 200 OK");
 * const b = latin1Bytes("HTTP/1.1 200 OK");
 * sameBytesAt(a, viewOf(a), 2, b, viewOf(b), b.length); // true
 * ```
 */
export function sameBytesAt(
  a: Uint8Array,
  av: WordView,
  start: number,
  b: Uint8Array,
  bv: WordView,
  n: number,
): boolean {
  let i = 0;
  const aw = av.words;
  const bw = bv.words;
  const words = n >> 2;
  const first = start >> 2;
  if ((start & 3) === 0 && first + words <= aw.length && words <= bw.length) {
    for (let w = 0; w < words; w++) if (aw[first + w] !== bw[w]) return false;
    i = words << 2;
  } else {
    for (; i + 4 <= n; i += 4) {
      if (av.getInt32(start + i, true) !== bv.getInt32(i, true)) return false;
    }
  }
  for (; i < n; i++) if (a[start + i] !== b[i]) return false;
  return true;
}
