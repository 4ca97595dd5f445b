/**
 * Writes a fetch Response onto an HTTP/1.1 connection: Content-Length when the whole body is
 * at hand, chunked when it streams (close-delimited for HTTP/1.0), no body for HEAD, 204 and
 * 304; each streamed chunk is written before the next is read, so a slow client slows the
 * producer instead of filling memory.
 * @module
 */

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
export interface ResponseHooks {
  /** The body turned out to stream (it is exempt from send deadlines from now on). */
  streaming(reader: ReadableStreamDefaultReader<Uint8Array>): void;
}

/** Writes whole buffers to a connection. */
export class SocketWriter {
  constructor(private readonly conn: Deno.Conn) {}

  /** Writes all of `bytes`. @throws when the connection is closed or broken */
  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }
}

const PENDING = Symbol("pending");
const pending = Promise.resolve(PENDING);
/** Bodies up to this size are copied after the head into one write. */
const COALESCE_BYTES = 16 * 1024;
const LAST_CHUNK = new TextEncoder().encode("0\r\n\r\n");
const CRLF = new TextEncoder().encode("\r\n");
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
  let keep = x.keepAlive && !closeRequested(res.headers);
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
  const reader = body.getReader();
  const first = await reader.read();
  if (first.done) {
    await out.write(encode(headText(status, res.headers, "content-length: 0\r\n", keep, x.minor)));
    return keep;
  }
  const secondRead = reader.read();
  secondRead.catch(() => {}); // awaited below; a failure is handled there
  const second = await Promise.race([secondRead, pending]);
  if (second !== PENDING && second.done) {
    const chunk = bytesOf(first.value);
    const head = headText(
      status,
      res.headers,
      `content-length: ${chunk.length}\r\n`,
      keep,
      x.minor,
    );
    await writeWhole(out, head, chunk);
    return keep;
  }
  // A streamed body: chunked for HTTP/1.1, close-delimited for HTTP/1.0.
  const chunked = x.minor === 1;
  if (!chunked) keep = false;
  const framing = chunked ? "transfer-encoding: chunked\r\n" : "";
  hooks.streaming(reader);
  await stream(out, reader, headText(status, res.headers, framing, keep, x.minor), {
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
    await out.write(s.chunked ? concat(h, frame(s.first)) : concat(h, s.first));
    let r = await s.next;
    while (!r.done) {
      const chunk = bytesOf(r.value);
      if (chunk.length > 0) await out.write(s.chunked ? frame(chunk) : chunk);
      r = await reader.read();
    }
    if (s.chunked) await out.write(LAST_CHUNK);
  } catch (err) {
    reader.cancel(err).catch(() => {});
    throw err;
  }
}

/** A chunk in the chunked coding: size line, data, CRLF. */
function frame(chunk: Uint8Array): Uint8Array {
  const size = encode(chunk.length.toString(16) + "\r\n");
  const out = new Uint8Array(size.length + chunk.length + 2);
  out.set(size);
  out.set(chunk, size.length);
  out.set(CRLF, size.length + chunk.length);
  return out;
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

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new TypeError("response body chunks must be Uint8Array");
}

/** True when the handler asked to close the connection. */
function closeRequested(headers: Headers): boolean {
  const c = headers.get("connection");
  return c !== null && /(?:^|,)\s*close\s*(?:,|$)/i.test(c);
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
  if (!dated) s += `date: ${httpDate()}\r\n`;
  s += framing;
  if (!keepAlive) s += "connection: close\r\n";
  else if (minor === 0) s += "connection: keep-alive\r\n";
  return s + "\r\n";
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
