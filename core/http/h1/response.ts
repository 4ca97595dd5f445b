/**
 * Writes a fetch Response onto an HTTP/1.1 connection: Content-Length when the whole body is
 * at hand, chunked when it streams (close-delimited for HTTP/1.0), no body for HEAD, 204 and
 * 304; each streamed chunk is written before the next is read, so a slow client slows the
 * producer instead of filling memory.
 * @module
 */
import { concatBytes } from "./bytes.ts";
import { chunkFrame, LAST_CHUNK } from "./framing.ts";
import { claimPushSource, type PushHooks, sendPush, type SocketPush } from "./push.ts";
import type { HeaderPairs, RawResponse } from "./raw.ts";

/** The part of an exchange the response framing depends on. */
export interface ResponseFraming {
  /** The request was HEAD: headers only. */
  head: boolean;
  /** The request's minor version (0: HTTP/1.0). */
  minor: number;
  /** Whether the connection may stay open after this response. */
  keepAlive: boolean;
}

/** Hooks the writer reports to. */
export interface ResponseHooks extends PushHooks {
  /** The body turned out to stream (it is exempt from send deadlines from now on). */
  streaming(reader: ReadableStreamDefaultReader<Uint8Array>): void;
  /** The body is pushed (see push.ts) through `sink`, which the connection may cancel. */
  pushing(sink: SocketPush): void;
}

/** Writes whole buffers to a connection. */
export class SocketWriter {
  constructor(private readonly conn: Deno.Conn) {}

  /** Writes all of `bytes`. @throws when the connection is closed or broken */
  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  /** One socket write of some of `bytes`; resolves how many were taken. */
  writeSome(bytes: Uint8Array): Promise<number> {
    return this.conn.write(bytes);
  }
}

/** Hooks for an answer written outside a connection's request loop (refusals). */
export const NO_HOOKS: ResponseHooks = {
  streaming: () => {},
  pushing: () => {},
  writing: () => {},
};

const EMPTY = new Uint8Array(0);
const PENDING = Symbol("pending");
const pending = Promise.resolve(PENDING);
/** Bodies up to this size are copied after the head into one write. */
const COALESCE_BYTES = 16 * 1024;
/** Framing headers the writer owns; a handler's values are dropped. */
const OWNED = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);

/**
 * Sends `res`. Resolves whether the connection may stay open.
 * @throws when the connection breaks while writing (the body is cancelled first)
 */
export async function sendResponse(
  out: SocketWriter,
  res: Response,
  x: ResponseFraming,
  hooks: ResponseHooks,
): Promise<boolean> {
  const status = res.status;
  const keep = x.keepAlive && !closeRequested(res.headers.get("connection"));
  const body = res.body;
  if (x.head || status === 204 || status === 304 || body === null) {
    if (body) body.cancel().catch(() => {});
    const length = x.head
      ? res.headers.get("content-length")
      : status === 204 || status === 304
      ? null
      : "0";
    const extra = length === null ? "" : `content-length: ${length}\r\n`;
    await out.write(encode(headText(status, res.headers, extra, keep, x.minor)));
    return keep;
  }
  return await sendStream(
    out,
    body,
    (framing, k) => headText(status, res.headers, framing, k, x.minor),
    {
      keepAlive: keep,
      minor: x.minor,
    },
    hooks,
  );
}

/**
 * Sends a raw-path answer: header pairs and bytes (or text, or a stream). Resolves whether the
 * connection may stay open.
 * @throws {TypeError} for a header name or value that cannot be written as it is (nothing is
 * sent then); whatever the socket throws when the connection breaks
 */
export async function sendRaw(
  out: SocketWriter,
  res: RawResponse,
  x: ResponseFraming,
  hooks: ResponseHooks,
): Promise<boolean> {
  const { status, headers, body } = res;
  checkHeaderPairs(headers);
  const keep = x.keepAlive && !closeRequested(pairValue(headers, "connection"));
  if (body instanceof ReadableStream) {
    if (!x.head && status !== 204 && status !== 304) {
      return await sendStream(
        out,
        body,
        (framing, k) => pairsText(status, headers, framing, k, x.minor),
        { keepAlive: keep, minor: x.minor },
        hooks,
      );
    }
    body.cancel().catch(() => {});
    await out.write(encode(pairsText(status, headers, "", keep, x.minor)));
    return keep;
  }
  const bytes = typeof body === "string" ? utf8.encode(body) : body ?? EMPTY;
  const bodiless = status === 204 || status === 304;
  const framing = bodiless ? "" : `content-length: ${bytes.length}\r\n`;
  const head = pairsText(status, headers, framing, keep, x.minor);
  if (x.head || bodiless) await out.write(encode(head));
  else await writeWhole(out, head, bytes);
  return keep;
}

/** Sends a streamed body: whole with a length when it turns out to be one chunk, else chunked. */
async function sendStream(
  out: SocketWriter,
  body: ReadableStream<Uint8Array>,
  headOf: (framing: string, keepAlive: boolean) => string,
  x: { keepAlive: boolean; minor: number },
  hooks: ResponseHooks,
): Promise<boolean> {
  const source = claimPushSource(body);
  if (source) return sendPush(out, source, (f, k) => encode(headOf(f, k)), x, hooks);
  let keep = x.keepAlive;
  const reader = body.getReader();
  const first = await reader.read();
  if (first.done) {
    await out.write(encode(headOf("content-length: 0\r\n", keep)));
    return keep;
  }
  const secondRead = reader.read();
  secondRead.catch(() => {}); // awaited below; a failure is handled there
  const second = await Promise.race([secondRead, pending]);
  if (second !== PENDING && second.done) {
    const chunk = bytesOf(first.value);
    await writeWhole(out, headOf(`content-length: ${chunk.length}\r\n`, keep), chunk);
    return keep;
  }
  // A streamed body: chunked for HTTP/1.1, close-delimited for HTTP/1.0.
  const chunked = x.minor === 1;
  if (!chunked) keep = false;
  const framing = chunked ? "transfer-encoding: chunked\r\n" : "";
  hooks.streaming(reader);
  await stream(out, reader, headOf(framing, keep), {
    first: bytesOf(first.value),
    next: secondRead,
    chunked,
  });
  return keep;
}

/** Writes the head with the first chunk, then each chunk as it comes. */
async function stream(
  out: SocketWriter,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  head: string,
  s: { first: Uint8Array; next: Promise<ReadableStreamReadResult<Uint8Array>>; chunked: boolean },
): Promise<void> {
  try {
    const h = encode(head);
    await out.write(concatBytes([h, s.chunked ? chunkFrame(s.first) : s.first]));
    let r = await s.next;
    while (!r.done) {
      const chunk = bytesOf(r.value);
      if (chunk.length > 0) await out.write(s.chunked ? chunkFrame(chunk) : chunk);
      r = await reader.read();
    }
    if (s.chunked) await out.write(LAST_CHUNK);
  } catch (err) {
    reader.cancel(err).catch(() => {});
    throw err;
  }
}

async function writeWhole(out: SocketWriter, head: string, body: Uint8Array): Promise<void> {
  if (body.length > COALESCE_BYTES || NON_ASCII.test(head)) {
    await out.write(encode(head));
    await out.write(body);
    return;
  }
  // One buffer, one write: the head is ASCII, one byte per char.
  const bytes = new Uint8Array(head.length + body.length);
  utf8.encodeInto(head, bytes);
  bytes.set(body, head.length);
  await out.write(bytes);
}

function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new TypeError("response body chunks must be Uint8Array");
}

/** True when the handler asked to close the connection (its Connection field value). */
function closeRequested(c: string | null): boolean {
  return c !== null && /(?:^|,)\s*close\s*(?:,|$)/i.test(c);
}

/** The value of `name` (lower case) among header pairs; null when absent. */
function pairValue(headers: HeaderPairs, name: string): string | null {
  for (let i = 0; i < headers.length; i++) {
    if (headers[i][0].toLowerCase() === name) return headers[i][1];
  }
  return null;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What a field value may not hold: CR, LF, NUL, or a character beyond one byte. */
const BAD_FIELD_VALUE = /[\r\n\0\u0100-\uffff]/;

/**
 * Refuses header pairs that would break the head (a Headers object refuses the same).
 * @throws {TypeError} naming the field
 * @example
 * ```ts
 * checkHeaderPairs([["x-a", "1"]]); // fine
 * checkHeaderPairs([["x-a", "1\r\nx-b: 2"]]); // throws TypeError
 * ```
 */
export function checkHeaderPairs(headers: HeaderPairs): void {
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    if (!TOKEN.test(name) || BAD_FIELD_VALUE.test(value)) {
      throw new TypeError(`invalid response header field: ${JSON.stringify(name.slice(0, 64))}`);
    }
  }
}

/** {@linkcode headText} for header pairs (names compared in lower case). */
function pairsText(
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
    const lower = name.toLowerCase();
    if (OWNED.has(lower)) continue;
    if (lower === "date") dated = true;
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
const NON_ASCII = /[\x80-\uffff]/;

/** Head text to bytes, one byte per char (header values are byte strings). */
export function encode(text: string): Uint8Array {
  if (!NON_ASCII.test(text)) return utf8.encode(text);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

let dateSecond = -1;
let dateValue = "";

/** The IMF-fixdate of the current second, computed once per second. */
function httpDate(): string {
  const s = Math.floor(Date.now() / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateValue = new Date(s * 1000).toUTCString();
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
