/**
 * The response head parser of the HTTP/1.1 client, strict per RFC 9112 and RFC 9110: it
 * works on bytes in place, turns only the four fields it needs into values, and throws on
 * anything that could frame a message two ways (the ground of response splitting and
 * smuggling) instead of guessing.
 *
 * Accepted: `HTTP/1.<digit> <3 digits>[ <reason>]` with a status from 100 to 599 (a missing
 * reason and its space are tolerated, as common servers send them); field lines `token ":" OWS
 * value OWS` whose value holds only HTAB, SP, VCHAR and obs-text; Content-Length as digits
 * (a list of identical values counts as one, RFC 9110 §8.6); Transfer-Encoding exactly
 * `chunked` (case-insensitive, as the final and only coding).
 *
 * Rejected: any other version, status or status-line shape; obs-fold (RFC 9112 §5.2 lets a
 * proxy refuse it); whitespace before the colon (§5.1); CTLs, bare CR or LF in a line
 * (§2.2); Content-Length together with Transfer-Encoding (§6.1, §6.3); differing or invalid
 * Content-Lengths (§6.3); a final coding other than `chunked`, `chunked` twice, or codings
 * this client cannot remove (the body would reach the caller still encoded);
 * Transfer-Encoding in an HTTP/1.0 response (§6.1).
 * @module
 */
import { latin1 } from "./latin1.ts";
import { HttpClientError } from "./error.ts";
import { sameBytesAt, viewOf, type WordView } from "../wire/mod.ts";

/** The framing and the fields the client uses from a response head. */
export interface ResponseHead {
  /** 100 to 599. */
  status: number;
  contentType: string | null;
  /** Content-Length, when present. */
  length: number | undefined;
  /** The body is chunked (Transfer-Encoding: chunked). */
  chunked: boolean;
  /** The connection cannot carry another exchange (`Connection: close`, or HTTP/1.0). */
  close: boolean;
}

const SP = 32;
const TAB = 9;
const CR = 13;
const LF = 10;
const COLON = 58;
const COMMA = 44;
/** Longest Content-Length accepted (15 digits stay below 2^53). */
const MAX_LENGTH_DIGITS = 15;
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const HTTP_1_DOT = ascii("HTTP/1.");
const CONTENT_TYPE = ascii("content-type");
const CONTENT_LENGTH = ascii("content-length");
const TRANSFER_ENCODING = ascii("transfer-encoding");
const CONNECTION = ascii("connection");
const CHUNKED = ascii("chunked");
const CLOSE = ascii("close");
const KEEP_ALIVE = ascii("keep-alive");

/** RFC 9110 §5.6.2 tchar. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = TCHAR[c + 32] = 1;
/** What a field value or reason phrase may hold: HTAB, SP, VCHAR, obs-text. */
const FIELD_BYTE = new Uint8Array(256);
FIELD_BYTE[TAB] = FIELD_BYTE[SP] = 1;
for (let c = 0x21; c <= 0x7e; c++) FIELD_BYTE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_BYTE[c] = 1;

function invalid(reason: string): HttpClientError {
  return new HttpClientError("protocol", `invalid response: ${reason}`);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** True when `b[s..e)` equals the lower-case ASCII `name`, ignoring case. */
function nameIs(b: Uint8Array, s: number, e: number, name: Uint8Array): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    const c = b[s + i];
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== name[i]) return false;
  }
  return true;
}

/** Index of the next CRLF at or after `from`, or `b.length`. */
function indexOfCrlf(b: Uint8Array, from: number): number {
  for (let i = from; i + 1 < b.length; i++) {
    if (b[i] === CR && b[i + 1] === LF) return i;
  }
  return b.length;
}

/** The status code of a status line `b[0..end)`; throws unless it is well formed. */
function statusOf(b: Uint8Array, end: number): number {
  let ok = end >= 12 && isDigit(b[7]) && b[8] === SP && isDigit(b[9]) && isDigit(b[10]) &&
    isDigit(b[11]) && (end === 12 || b[12] === SP);
  for (let i = 0; ok && i < HTTP_1_DOT.length; i++) ok = b[i] === HTTP_1_DOT[i];
  for (let i = 13; ok && i < end; i++) ok = FIELD_BYTE[b[i]] === 1;
  if (!ok) throw invalid("malformed status line");
  const status = (b[9] - 48) * 100 + (b[10] - 48) * 10 + (b[11] - 48);
  if (status < 100 || status > 599) throw invalid(`status ${status} outside 100-599`);
  return status;
}

/** What the list-valued fields (Content-Length, Transfer-Encoding, Connection) said. */
interface Framing {
  length: number | undefined;
  /** Transfer-Encoding field lines seen. */
  te: number;
  /** Codings other than chunked, or chunked not last / more than once. */
  badCoding: string | undefined;
  chunkedSeen: boolean;
  closeToken: boolean;
  keepAliveToken: boolean;
}

/** Calls `fn` with the bounds of each non-empty, OWS-trimmed element of a list `b[s..e)`. */
function eachElement(
  b: Uint8Array,
  s: number,
  e: number,
  fn: (s: number, e: number) => void,
): void {
  let i = s;
  while (i <= e) {
    let j = i;
    while (j < e && b[j] !== COMMA) j++;
    let es = i;
    let ee = j;
    while (es < ee && (b[es] === SP || b[es] === TAB)) es++;
    while (ee > es && (b[ee - 1] === SP || b[ee - 1] === TAB)) ee--;
    if (ee > es) fn(es, ee);
    i = j + 1;
  }
}

function contentLength(b: Uint8Array, s: number, e: number, f: Framing): void {
  let any = false;
  eachElement(b, s, e, (es, ee) => {
    any = true;
    if (ee - es > MAX_LENGTH_DIGITS) throw invalid("Content-Length too large");
    let n = 0;
    for (let i = es; i < ee; i++) {
      if (!isDigit(b[i])) throw invalid("invalid Content-Length");
      n = n * 10 + (b[i] - 48);
    }
    if (f.length !== undefined && f.length !== n) throw invalid("conflicting Content-Length");
    f.length = n;
  });
  if (!any) throw invalid("empty Content-Length");
}

function transferEncoding(b: Uint8Array, s: number, e: number, f: Framing): void {
  f.te++;
  eachElement(b, s, e, (es, ee) => {
    if (f.chunkedSeen) f.badCoding = "a transfer coding after chunked";
    if (nameIs(b, es, ee, CHUNKED)) f.chunkedSeen = true;
    else f.badCoding ??= "a transfer coding other than chunked";
  });
}

function connection(b: Uint8Array, s: number, e: number, f: Framing): void {
  eachElement(b, s, e, (es, ee) => {
    if (nameIs(b, es, ee, CLOSE)) f.closeToken = true;
    else if (nameIs(b, es, ee, KEEP_ALIVE)) f.keepAliveToken = true;
  });
}

/**
 * Parses a response head: the status line and field lines separated by CRLF, without the
 * blank line that ends it. Only Content-Type, Content-Length, Transfer-Encoding and
 * Connection are read; every line is checked.
 *
 * @example
 * ```ts
 * const head = parseResponseHead(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 2"));
 * // head.status === 200, head.length === 2, head.chunked === false, head.close === false
 * ```
 * @throws {HttpClientError} `protocol` for a head RFC 9112 does not allow (see the module doc).
 */
export function parseResponseHead(b: Uint8Array): ResponseHead {
  let lineEnd = indexOfCrlf(b, 0);
  const status = statusOf(b, lineEnd);
  const http10 = b[7] === 48;
  let contentType: string | null = null;
  const f: Framing = {
    length: undefined,
    te: 0,
    badCoding: undefined,
    chunkedSeen: false,
    closeToken: false,
    keepAliveToken: false,
  };
  while (lineEnd < b.length) {
    const start = lineEnd + 2;
    lineEnd = indexOfCrlf(b, start);
    let colon = start;
    while (colon < lineEnd && TCHAR[b[colon]] === 1) colon++;
    if (colon === start || colon === lineEnd || b[colon] !== COLON) {
      const folded = colon === start && (b[start] === SP || b[start] === TAB);
      throw invalid(folded ? "obsolete line folding" : "malformed header line");
    }
    let vs = colon + 1;
    let ve = lineEnd;
    while (vs < ve && (b[vs] === SP || b[vs] === TAB)) vs++;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === TAB)) ve--;
    for (let i = vs; i < ve; i++) {
      if (FIELD_BYTE[b[i]] === 0) throw invalid("control character in a header value");
    }
    switch (colon - start) {
      case CONTENT_TYPE.length:
        if (nameIs(b, start, colon, CONTENT_TYPE)) contentType = contentTypeText(b, vs, ve);
        break;
      case CONNECTION.length:
        if (nameIs(b, start, colon, CONNECTION)) connection(b, vs, ve, f);
        break;
      case CONTENT_LENGTH.length:
        if (nameIs(b, start, colon, CONTENT_LENGTH)) contentLength(b, vs, ve, f);
        break;
      case TRANSFER_ENCODING.length:
        if (nameIs(b, start, colon, TRANSFER_ENCODING)) transferEncoding(b, vs, ve, f);
        break;
    }
  }
  if (f.te > 0) {
    if (http10) throw invalid("Transfer-Encoding in an HTTP/1.0 response");
    if (f.length !== undefined) throw invalid("both Content-Length and Transfer-Encoding");
    if (f.badCoding !== undefined) throw invalid(f.badCoding);
    if (!f.chunkedSeen) throw invalid("empty Transfer-Encoding");
  }
  return {
    status,
    contentType,
    length: f.length,
    chunked: f.chunkedSeen,
    close: f.closeToken || (http10 && !f.keepAliveToken),
  };
}

/** Longest response head a {@linkcode ResponseHeadMemo} remembers. */
const HEAD_MEMO_BYTES = 512;

/**
 * The last response head parsed, by its bytes: an agent answers with the same head again and
 * again (until the second in its Date changes), so it is parsed once and compared after that.
 * A head that fails to parse is never remembered; the parse depends on nothing but the bytes.
 */
export class ResponseHeadMemo {
  #bytes = new Uint8Array(HEAD_MEMO_BYTES);
  readonly #view = viewOf(this.#bytes);
  #length = -1;
  #head: ResponseHead | undefined;

  /**
   * The head remembered when `b[start:limit)` begins with its bytes and the empty line after
   * them, else undefined; it then takes {@linkcode repeatedLength} bytes. A head the parse
   * accepted holds no bare LF and no empty line, so those bytes end at that empty line and
   * nowhere earlier: found without searching for its end (and compared once, not twice, four
   * bytes at a time). `view` is a view of exactly `b` (see `viewOf` in core/http/wire).
   */
  repeated(b: Uint8Array, view: WordView, start: number, limit: number): ResponseHead | undefined {
    const last = this.#head;
    const n = this.#length;
    const e = start + n;
    if (last === undefined || limit - e < 4) return undefined;
    if (b[e] !== CR || b[e + 1] !== LF || b[e + 2] !== CR || b[e + 3] !== LF) return undefined;
    return sameBytesAt(b, view, start, this.#bytes, this.#view, n) ? last : undefined;
  }

  /** Bytes a head {@linkcode repeated} found takes, its empty line included. */
  get repeatedLength(): number {
    return this.#length + 4;
  }

  /**
   * {@linkcode parseResponseHead} of `b[start:end)`, or what it returned for the same bytes last
   * time (compared in place: no view of them is made).
   * @throws {HttpClientError} `protocol` as parseResponseHead does
   */
  parse(b: Uint8Array, start = 0, end = b.length): ResponseHead {
    const n = end - start;
    const last = this.#head;
    if (last !== undefined && n === this.#length && sameBytes(b, start, this.#bytes, n)) {
      return last;
    }
    const bytes = start === 0 && end === b.length ? b : b.subarray(start, end);
    const head = parseResponseHead(bytes);
    if (n <= HEAD_MEMO_BYTES) {
      this.#bytes.set(bytes);
      this.#length = n;
      this.#head = head;
    }
    return head;
  }
}

/** Whether `a[start:start + n)` equals `b[0:n)`. */
function sameBytes(a: Uint8Array, start: number, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[start + i] !== b[i]) return false;
  return true;
}

/** The last content type seen, as bytes and text (agents answer with the same one). */
let lastTypeBytes = new Uint8Array(0);
let lastTypeText = "";
/** Longest content type remembered. */
const MEMO_TYPE_BYTES = 256;

function contentTypeText(b: Uint8Array, s: number, e: number): string {
  const n = e - s;
  if (n === lastTypeBytes.length) {
    let same = true;
    for (let i = 0; i < n && same; i++) same = b[s + i] === lastTypeBytes[i];
    if (same) return lastTypeText;
  }
  const text = latin1(b.subarray(s, e));
  if (n <= MEMO_TYPE_BYTES) {
    lastTypeBytes = b.slice(s, e);
    lastTypeText = text;
  }
  return text;
}

/**
 * True when `line` is a field line RFC 9112 allows (`token ":" OWS value OWS`, value of HTAB,
 * SP, VCHAR and obs-text): how chunked trailer lines are checked before being discarded.
 */
export function isFieldLine(line: Uint8Array): boolean {
  let colon = 0;
  while (colon < line.length && TCHAR[line[colon]] === 1) colon++;
  if (colon === 0 || colon === line.length || line[colon] !== COLON) return false;
  for (let i = colon + 1; i < line.length; i++) if (FIELD_BYTE[line[i]] === 0) return false;
  return true;
}

/** True when every byte of `b[s..e)` may appear in a field value (HTAB, SP, VCHAR, obs-text). */
export function isFieldText(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (FIELD_BYTE[b[i]] === 0) return false;
  return true;
}
