/**
 * Strict HTTP/1.1 request-head parsing (RFC 9112 sections 2-7): the request line, field lines
 * and the framing they imply. Anything ambiguous is refused with the status the RFC names.
 * @module
 */
import { HttpError } from "../../errors/mod.ts";
import { sameBytesAt, viewOf, type WordView } from "../wire/mod.ts";

/** Bounds the parser enforces beyond the head's total size (checked by the reader). */
export interface HeadLimits {
  /** Longest request-target in bytes (414 above). */
  maxUrlBytes: number;
  /** Most field lines in the head (431 above). */
  maxHeaderFields: number;
}

/**
 * A parsed request head. One object may stand for several requests of a connection that sent
 * the same head bytes (see {@linkcode HeadMemo}): nothing changes it once parsed.
 */
export interface RequestHead {
  method: string;
  /** The request-target as sent (origin-form, absolute-form or `*`). */
  target: string;
  /** The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1 and later 1.x. */
  minor: number;
  /** Field lines in order, names lower-cased. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** The Host field value ("" when absent, which only HTTP/1.0 may do). */
  host: string;
  /** Declared body length; 0 when there is no body; -1 when the body is chunked. */
  contentLength: number;
  /** Whether the client allows the connection to stay open after this exchange. */
  keepAlive: boolean;
  /** `Expect: 100-continue` on an HTTP/1.1 request. */
  expectContinue: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII only: no whitespace, no controls, no raw non-ASCII in a request-target. */
const TARGET = /^[\x21-\x7e]+$/;
/** Controls other than HTAB are not field-content (obs-text, 0x80-0xFF, is). */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const VERSION = /^HTTP\/(\d)\.(\d)$/;
/** uri-host [ ":" port ] (RFC 3986): an IP literal or a reg-name, then an optional port. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;
const DIGITS = /^[0-9]+$/;
/** Methods a fetch Request cannot carry (CONNECT, TRACE, TRACK): 501. */
const UNSUPPORTED_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
/**
 * Methods a fetch Request upper-cases whatever their case. Methods are case-sensitive (RFC
 * 9110 9.1), so "get" is not GET: 501 rather than serving it as GET.
 */
const NORMALISED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
/**
 * The methods clients send, each as the program's own string: a request's method is then always
 * the same kind of string whether its head was parsed or remembered, and code that compares it
 * with a literal does not see a new kind of string on a connection's first request (V8 drops the
 * optimized code of such a function, and the requests behind it wait while it is made again).
 */
const COMMON_METHODS = new Map([...NORMALISED_METHODS, "PATCH"].map((m) => [m, m]));

/** What the field lines say about framing and the connection. */
interface Fields {
  headers: Array<[string, string]>;
  host: string | undefined;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
  close: boolean;
  keepAliveToken: boolean;
  expectContinue: boolean;
}

/**
 * Parses a request head: `text` holds the bytes (one char per byte) from the request line
 * through the empty line that ends the head.
 *
 * @throws {HttpError} 400 for malformed syntax or framing, 414 for a long request-target,
 * 431 for too many fields, 417 for an unknown expectation, 501 for an unsupported transfer
 * coding or method (CONNECT, TRACE), 505 for a major version other than 1.
 * @example
 * ```ts
 * const head = parseRequestHead("GET / HTTP/1.1\r\nHost: a\r\n\r\n", {
 *   maxUrlBytes: 8192,
 *   maxHeaderFields: 100,
 * });
 * head.method; // "GET"
 * ```
 */
export function parseRequestHead(text: string, limits: HeadLimits): RequestHead {
  let pos = 0;
  while (text.startsWith("\r\n", pos)) pos += 2; // RFC 9112 2.2: ignore leading empty lines
  const first = lineAt(text, pos);
  const { method, target, minor } = parseRequestLine(first.line, limits);
  const fields = parseFields(text, first.next, limits);
  if (minor === 1 && fields.host === undefined) throw bad("missing Host header");
  const contentLength = framing(fields, minor);
  return {
    method,
    target,
    minor,
    headers: fields.headers,
    host: fields.host ?? "",
    contentLength,
    keepAlive: !fields.close && (minor === 1 || fields.keepAliveToken),
    expectContinue: minor === 1 && fields.expectContinue,
  };
}

/** The line starting at `pos` (without its CRLF) and where the next one starts. */
function lineAt(text: string, pos: number): { line: string; next: number } {
  const lf = text.indexOf("\n", pos);
  if (lf < 0) throw bad("head does not end with CRLF");
  if (lf === pos || text.charCodeAt(lf - 1) !== 13) throw bad("bare LF in head");
  const line = text.slice(pos, lf - 1);
  if (line.indexOf("\r") >= 0) throw bad("bare CR in head");
  return { line, next: lf + 1 };
}

function parseRequestLine(
  line: string,
  limits: HeadLimits,
): { method: string; target: string; minor: number } {
  const sp1 = line.indexOf(" ");
  const sp2 = sp1 < 0 ? -1 : line.indexOf(" ", sp1 + 1);
  if (sp2 < 0 || line.indexOf(" ", sp2 + 1) >= 0) throw bad("malformed request line");
  const given = line.slice(0, sp1);
  const method = COMMON_METHODS.get(given) ?? given;
  const target = line.slice(sp1 + 1, sp2);
  if (!TOKEN.test(method)) throw bad("invalid method");
  if (target.length > limits.maxUrlBytes) {
    throw new HttpError(414, `request-target longer than ${limits.maxUrlBytes} bytes`, {
      limit_bytes: limits.maxUrlBytes,
    });
  }
  if (!TARGET.test(target)) throw bad("invalid request-target");
  const v = VERSION.exec(line.slice(sp2 + 1));
  if (!v) throw bad("invalid HTTP version");
  if (v[1] !== "1") throw new HttpError(505, "HTTP version not supported");
  if (
    UNSUPPORTED_METHODS.has(method.toUpperCase()) || (method !== method.toUpperCase() &&
      NORMALISED_METHODS.has(method.toUpperCase()))
  ) {
    throw new HttpError(501, "method not supported");
  }
  if (target === "*" ? method !== "OPTIONS" : !/^(?:\/|https?:\/\/)/i.test(target)) {
    throw bad("request-target must be origin-form or absolute-form");
  }
  if (target.charCodeAt(0) !== 47 && hasUserinfo(target)) {
    throw bad("userinfo in the request-target");
  }
  return { method, target, minor: v[2] === "0" ? 0 : 1 };
}

/**
 * Whether an absolute-form target's authority holds userinfo (`http://user:pw@host/`), which a
 * recipient treats as an error (RFC 9110 4.2.4): credentials in a URL end up in logs, and
 * `127.0.0.1@evil.example` reads as one host to some and another to others.
 */
function hasUserinfo(target: string): boolean {
  const from = target.indexOf("//") + 2;
  for (let i = from; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 64) return true; // @
    if (c === 47 || c === 63 || c === 35) return false; // / ? #
  }
  return false;
}

/** Parses field lines from `pos` up to the empty line. */
function parseFields(text: string, pos: number, limits: HeadLimits): Fields {
  const f: Fields = {
    headers: [],
    host: undefined,
    contentLength: undefined,
    transferEncoding: undefined,
    close: false,
    keepAliveToken: false,
    expectContinue: false,
  };
  for (;;) {
    const { line, next } = lineAt(text, pos);
    pos = next;
    if (line === "") break;
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) throw bad("obsolete line folding in header");
    if (f.headers.length >= limits.maxHeaderFields) {
      throw new HttpError(431, `more than ${limits.maxHeaderFields} header fields`, {
        limit_fields: limits.maxHeaderFields,
      });
    }
    const colon = line.indexOf(":");
    if (colon < 0) throw bad("header line without a colon");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw bad("invalid header name");
    const value = trimOws(line, colon + 1);
    if (BAD_VALUE.test(value)) throw bad("invalid header value");
    const lower = name.toLowerCase();
    noteField(f, lower, value);
    f.headers.push([lower, value]);
  }
  if (pos !== text.length) throw bad("data after the end of the head");
  return f;
}

/** Records what a framing or connection field says. */
function noteField(f: Fields, name: string, value: string): void {
  switch (name) {
    case "content-length":
      if (f.contentLength !== undefined) throw bad("more than one Content-Length");
      f.contentLength = value;
      break;
    case "transfer-encoding":
      f.transferEncoding = f.transferEncoding === undefined
        ? value
        : `${f.transferEncoding},${value}`;
      break;
    case "host":
      if (f.host !== undefined) throw bad("more than one Host header");
      if (!HOST.test(value)) throw bad("invalid Host header");
      f.host = value;
      break;
    case "connection":
      for (const t of listTokens(value)) {
        if (t === "close") f.close = true;
        else if (t === "keep-alive") f.keepAliveToken = true;
      }
      break;
    case "expect":
      if (value.toLowerCase() !== "100-continue") {
        throw new HttpError(417, "only Expect: 100-continue is supported");
      }
      f.expectContinue = true;
      break;
  }
}

/** The body length the fields imply (RFC 9112 6.1-6.3): -1 for chunked, else the length. */
function framing(f: Fields, minor: number): number {
  if (f.transferEncoding !== undefined) {
    if (minor === 0) throw bad("Transfer-Encoding in an HTTP/1.0 request");
    if (f.contentLength !== undefined) throw bad("both Content-Length and Transfer-Encoding");
    const codings = listTokens(f.transferEncoding);
    if (codings.length === 0 || codings[codings.length - 1] !== "chunked") {
      throw bad("chunked is not the final transfer coding");
    }
    if (codings.length > 1) {
      if (codings.indexOf("chunked") < codings.length - 1) throw bad("chunked applied twice");
      throw new HttpError(501, "transfer coding not supported");
    }
    return -1;
  }
  if (f.contentLength === undefined) return 0;
  if (!DIGITS.test(f.contentLength)) throw bad("invalid Content-Length");
  const n = Number(f.contentLength);
  if (!Number.isSafeInteger(n)) throw bad("invalid Content-Length");
  return n;
}

/** The lower-cased, non-empty elements of a comma list (RFC 9110 5.6.1). */
function listTokens(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(",")) {
    const t = trimOws(part, 0).toLowerCase();
    if (t !== "") out.push(t);
  }
  return out;
}

/** `s` from `start` without leading and trailing SP/HTAB (only those: RFC 9110 OWS). */
function trimOws(s: string, start: number): string {
  let a = start;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return s.slice(a, b);
}

function bad(message: string): HttpError {
  return new HttpError(400, message);
}

/** Heads up to this size are remembered by a {@linkcode HeadMemo}; longer ones are parsed. */
const HEAD_MEMO_BYTES = 1024;

/**
 * The last request head one connection parsed, by its bytes: a client that sends the same head
 * again (same fields, same body length) gets the same parse, as the parse depends on nothing
 * but the bytes and the listener's limits. A head that failed to parse is never remembered.
 */
export class HeadMemo {
  #bytes: Uint8Array | undefined;
  /** A view of `#bytes` (compared four bytes at a time). */
  #view: WordView | undefined;
  #length = 0;
  #head: RequestHead | undefined;

  /**
   * The head remembered when `buf[start:limit]` begins with its bytes (then {@linkcode length}
   * bytes long), else undefined. Those bytes end at the same empty line as before, and none
   * earlier, so the head is known without searching for its end. `bufView`: a view of exactly
   * `buf` (the connection's reader keeps one with its buffer; the memo keeps no read buffer).
   */
  repeated(
    buf: Uint8Array,
    start: number,
    limit: number,
    bufView?: WordView,
  ): RequestHead | undefined {
    const head = this.#head;
    const bytes = this.#bytes;
    const view = this.#view;
    const n = this.#length;
    if (head === undefined || bytes === undefined || view === undefined || limit - start < n) {
      return undefined;
    }
    return sameBytesAt(buf, bufView ?? viewOf(buf), start, bytes, view, n) ? head : undefined;
  }

  /** Bytes of the head remembered (0 when none is). */
  get length(): number {
    return this.#head === undefined ? 0 : this.#length;
  }

  /** Holds the bytes of a head about to be parsed, forgetting the last one. */
  hold(buf: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.#head = undefined;
    this.#length = 0;
    if (n > HEAD_MEMO_BYTES) return;
    if (this.#bytes === undefined || this.#bytes.length < n) {
      this.#bytes = new Uint8Array(Math.min(HEAD_MEMO_BYTES, Math.max(256, 2 * n)));
      this.#view = viewOf(this.#bytes);
    }
    this.#bytes.set(buf.subarray(start, end));
    this.#length = n;
  }

  /** Remembers `head`, parsed from the bytes held last; returns it. */
  keep(head: RequestHead): RequestHead {
    if (this.#length > 0) this.#head = head;
    return head;
  }

  /** Lets the held bytes and head go (a connection that streams for long needs neither). */
  forget(): void {
    this.#bytes = undefined;
    this.#view = undefined;
    this.#head = undefined;
    this.#length = 0;
  }
}
