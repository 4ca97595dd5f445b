/**
 * Response heads on the wire: the status line and header section as text (Headers or header
 * pairs) or written straight into a pooled byte buffer with the body after it, so a small answer
 * goes out in one write without a head string or a buffer made per response.
 * @module
 */
import { imfFixdate } from "../../log/mod.ts";
import type { HeaderPairs } from "./raw.ts";
import {
  CONTENT_LENGTH,
  digitCount,
  fieldLength,
  latin1Bytes,
  putCrlf,
  putDigits,
  putField,
} from "../wire/mod.ts";

/** Framing headers the writer owns; a handler's values are dropped. */
export const OWNED = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);

/** True for a framing field the writer owns, any case (lower-cases only the few candidates). */
function owned(name: string): boolean {
  const n = name.length;
  return (n === 10 || n === 14 || n === 17) && OWNED.has(name.toLowerCase());
}

/** True for Date, any case. */
function isDate(name: string): boolean {
  return name.length === 4 && name.toLowerCase() === "date";
}

/** {@linkcode headText} for header pairs (names compared in lower case). */
export function pairsText(
  status: number,
  headers: HeaderPairs,
  framing: string,
  keepAlive: boolean,
  minor: number,
): string {
  let s = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n`;
  let dated = false;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    if (owned(name)) continue;
    if (isDate(name)) dated = true;
    s += `${name}: ${value}\r\n`;
  }
  return s + tail(dated, framing, keepAlive, minor);
}

/** The end of a head: Date (unless given), framing, Connection and the empty line. */
function tail(dated: boolean, framing: string, keepAlive: boolean, minor: number): string {
  let s = dated ? "" : `date: ${httpDate()}\r\n`;
  s += framing;
  if (!keepAlive) s += "connection: close\r\n";
  else if (minor === 0) s += "connection: keep-alive\r\n";
  return s + "\r\n";
}

/** The status line and header section, ending with the empty line. */
export function headText(
  status: number,
  headers: Headers,
  framing: string,
  keepAlive: boolean,
  minor: number,
): string {
  let s = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n`;
  let dated = false;
  // forEach allocates a third of what the pair iterator does (it matters per response).
  headers.forEach((value, name) => {
    if (OWNED.has(name)) return;
    if (name === "date") dated = true;
    s += `${name}: ${value}\r\n`;
  });
  return s + tail(dated, framing, keepAlive, minor);
}

const utf8 = new TextEncoder();
/** Any character beyond ASCII. */
export const NON_ASCII = /[\x80-\uffff]/;

/** Head text to bytes, one byte per char (header values are byte strings). */
export function encode(text: string): Uint8Array {
  if (!NON_ASCII.test(text)) return utf8.encode(text);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

let dateSecond = -1;
let dateValue = "";

/**
 * The IMF-fixdate of the current second (or of `now`, ms), computed once per second (in
 * JavaScript: see {@linkcode imfFixdate}).
 */
export function httpDate(now: number = Date.now()): string {
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateValue = imfFixdate(s * 1000);
  }
  return dateValue;
}

/** Reason phrases (informative only; RFC 9112 4). */
const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** Pooled buffers: a head and a small body written together, returned once written. */
const OUT_BUFFER_BYTES = 32 * 1024;
/**
 * The size most answers fit (a head and a body of a few hundred bytes): a pool of buffers of
 * the largest size only kept more memory resident under load.
 */
const SMALL_OUT_BUFFER_BYTES = 4 * 1024;
/** Buffers kept for reuse, of each size (one per concurrent write at most; more are let go). */
const OUT_POOL_MAX = 64;
const outPool: OutBuffer[] = [];
const smallOutPool: OutBuffer[] = [];

/** Where a pooled answer is written: one socket write of some of it, or all of it. */
export interface OutSink {
  writeSome(bytes: Uint8Array): Promise<number>;
  write(bytes: Uint8Array): Promise<void>;
}

/**
 * A pooled buffer holding an answer, `buf[0:length]`, which writes itself and goes back to its
 * pool. Its callbacks are made once per buffer, not per answer.
 */
export class OutBuffer {
  /** Bytes in use. */
  length = 0;
  #view: Uint8Array | undefined;
  #sink: OutSink | undefined;
  #keep = false;
  constructor(readonly buf: Uint8Array) {}

  /** `buf[0:length]`: the view of the last answer of the same length is used again. */
  get bytes(): Uint8Array {
    const view = this.#view;
    if (view !== undefined && view.length === this.length) return view;
    return this.#view = this.buf.subarray(0, this.length);
  }

  /**
   * Writes `buf[0:length]` to `sink` (usually in one socket write), then goes back to the pool,
   * also when the write fails; resolves `keep`.
   */
  writeTo(sink: OutSink, keep: boolean): Promise<boolean> {
    this.#sink = sink;
    this.#keep = keep;
    return sink.writeSome(this.bytes).then(this.#onWrite, this.#onFail);
  }

  readonly #onWrite = (n: number): boolean | Promise<boolean> => {
    if (n >= this.length) return this.#done();
    return this.#sink!.write(this.bytes.subarray(n)).then(this.#done, this.#onFail);
  };

  readonly #done = (): boolean => {
    const keep = this.#keep;
    this.#sink = undefined;
    releaseOut(this);
    return keep;
  };

  readonly #onFail = (err: unknown): never => {
    this.#sink = undefined;
    releaseOut(this);
    throw err;
  };
}

/** Status lines as bytes, by status. */
const statusLines = new Map<number, Uint8Array>();
/** Most statuses {@linkcode statusLines} holds before it starts over. */
const STATUS_LINES = 64;

const CLOSE = latin1Bytes("connection: close\r\n");
const KEEP_ALIVE = latin1Bytes("connection: keep-alive\r\n");
/** Length of an IMF-fixdate. */
const HTTP_DATE_CHARS = 29;

function statusLine(status: number): Uint8Array {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = latin1Bytes(`HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n`);
    if (statusLines.size >= STATUS_LINES) statusLines.clear();
    statusLines.set(status, line);
  }
  return line;
}

let dateLineSecond = -1;
let dateLine: Uint8Array = new Uint8Array(0);

/**
 * `date: <IMF-fixdate>\r\ncontent-length: ` of the second of `now` (ms) as bytes, made once per
 * second: the Date line and the name of the Content-Length field that follows it in one copy.
 */
function currentDateLine(now: number): Uint8Array {
  const s = Math.floor(now / 1000);
  if (s !== dateLineSecond) {
    dateLineSecond = s;
    dateLine = latin1Bytes(`date: ${httpDate(now)}\r\ncontent-length: `);
  }
  return dateLine;
}

/**
 * The head (as {@linkcode pairsText} with a Content-Length of `body.length`) and `body` in one
 * pooled buffer, for one write; undefined when they do not fit one. {@linkcode OutBuffer.writeTo}
 * writes it and gives it back; else give it back with {@linkcode releaseOut} once it is written. The head is written as bytes where it lies, with
 * no string made of it: the status line, the Date line and a header line whose value repeats
 * are copied from bytes kept for them. `now`: the wall clock (ms) the caller read as it began
 * the answer, whose second the Date line gives (else the clock is read here).
 */
export function headAndBody(
  status: number,
  headers: HeaderPairs,
  body: Uint8Array,
  keepAlive: boolean,
  minor: number,
  now?: number,
): OutBuffer | undefined {
  const first = statusLine(status);
  // Each char is one byte: the head's size is known before anything is written.
  let need = first.length + body.length + 2;
  let dated = false;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    if (owned(name)) continue;
    if (isDate(name)) dated = true;
    need += fieldLength(name, value);
  }
  if (!dated) need += HTTP_DATE_CHARS + 8;
  need += CONTENT_LENGTH.length + digitCount(body.length) + 2;
  if (!keepAlive) need += CLOSE.length;
  else if (minor === 0) need += KEEP_ALIVE.length;
  if (need > OUT_BUFFER_BYTES) return undefined;
  const out = need <= SMALL_OUT_BUFFER_BYTES
    ? smallOutPool.pop() ?? new OutBuffer(new Uint8Array(SMALL_OUT_BUFFER_BYTES))
    : outPool.pop() ?? new OutBuffer(new Uint8Array(OUT_BUFFER_BYTES));
  const buf = out.buf;
  buf.set(first);
  let p = first.length;
  for (let i = 0; i < headers.length; i++) {
    const [name, value, codes] = headers[i];
    if (!owned(name)) p = putField(buf, p, name, value, codes);
  }
  // The Date line comes with the Content-Length field's name: one copy for both.
  const fixed = dated ? CONTENT_LENGTH : currentDateLine(now ?? Date.now());
  buf.set(fixed, p);
  p = putCrlf(buf, putDigits(buf, p + fixed.length, body.length));
  const connection = !keepAlive ? CLOSE : minor === 0 ? KEEP_ALIVE : undefined;
  if (connection !== undefined) {
    buf.set(connection, p);
    p += connection.length;
  }
  p = putCrlf(buf, p);
  buf.set(body, p);
  out.length = p + body.length;
  return out;
}

/** Returns a buffer from {@linkcode headAndBody} to the pool of its size. */
export function releaseOut(out: OutBuffer): void {
  const pool = out.buf.length === SMALL_OUT_BUFFER_BYTES ? smallOutPool : outPool;
  if (pool.length < OUT_POOL_MAX) pool.push(out);
}
