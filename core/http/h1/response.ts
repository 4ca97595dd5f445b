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
import { encode, headAndBody, headText, NON_ASCII, pairsText } from "./head_out.ts";
import { type SocketWrite, socketWriter } from "../socket/mod.ts";
import { isReadableStream } from "./web_classes.ts";

export { encode, headText } from "./head_out.ts";

/** The part of an exchange the response framing depends on. */
export interface ResponseFraming {
  /** The request was HEAD: headers only. */
  head: boolean;
  /** The request's minor version (0: HTTP/1.0). */
  minor: number;
  /** Whether the connection may stay open after this response. */
  keepAlive: boolean;
  /**
   * The wall clock (ms since the epoch) the connection read as it began the answer (arming its
   * write deadline): the Date field gives its second, with no clock read of its own.
   */
  now?: number;
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
  /** The connection's writes (through the runtime's op: see core/http/socket). */
  readonly #write: SocketWrite;
  constructor(conn: Deno.Conn) {
    this.#write = socketWriter(conn);
  }

  /** Writes all of `bytes`. @throws when the connection is closed or broken */
  write(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return WRITTEN;
    // The usual single write takes the buffer as it is (no view made per write) and suspends
    // no frame of its own.
    return this.#write(bytes).then((n) => n < bytes.length ? this.#rest(bytes, n) : undefined);
  }

  /** Writes `bytes` from `off` on (after a partial write). */
  async #rest(bytes: Uint8Array, off: number): Promise<void> {
    while (off < bytes.length) off += await this.#write(bytes.subarray(off));
  }

  /** One socket write of some of `bytes`; resolves how many were taken. */
  writeSome(bytes: Uint8Array): Promise<number> {
    return this.#write(bytes);
  }
}

/** Hooks for an answer written outside a connection's request loop (refusals). */
export const NO_HOOKS: ResponseHooks = {
  streaming: () => {},
  pushing: () => {},
  pushEnded: () => {},
  writing: () => {},
};

const EMPTY = new Uint8Array(0);
const WRITTEN = Promise.resolve();
const PENDING = Symbol("pending");
const pending = Promise.resolve(PENDING);
/** Bodies up to this size are copied after the head into one write. */
const COALESCE_BYTES = 16 * 1024;

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
 * connection may stay open. `checked`: the header pairs were already checked with
 * {@linkcode checkHeaderPairs} (see `RawHandler.checksHeaders`).
 * @throws {TypeError} for a header name or value that cannot be written as it is (nothing is
 * sent then); whatever the socket throws when the connection breaks
 */
export function sendRaw(
  out: SocketWriter,
  res: RawResponse,
  x: ResponseFraming,
  hooks: ResponseHooks,
  checked = false,
): Promise<boolean> {
  const { status, headers, body } = res;
  try {
    if (!checked) checkHeaderPairs(headers);
  } catch (err) {
    return Promise.reject(err);
  }
  const keep = x.keepAlive && !closeRequested(pairValue(headers, "connection"));
  if (!isReadableStream(body) && !x.head && status !== 204 && status !== 304) {
    const bytes = typeof body === "string" ? utf8.encode(body) : body ?? EMPTY;
    const whole = bytes.length > COALESCE_BYTES
      ? undefined
      : headAndBody(status, headers, bytes, keep, x.minor, x.now);
    // The usual answer: head and body in one pooled buffer, one write, no frame suspended.
    if (whole) {
      res.release?.(); // the body was copied
      return whole.writeTo(out, keep);
    }
    return sendRawRest(out, { status, headers, body: bytes }, x, hooks, keep);
  }
  return sendRawRest(out, res, x, hooks, keep);
}

/** {@linkcode sendRaw} of a stream, a bodiless answer, or a body too large for one buffer. */
async function sendRawRest(
  out: SocketWriter,
  res: RawResponse,
  x: ResponseFraming,
  hooks: ResponseHooks,
  keep: boolean,
): Promise<boolean> {
  const { status, headers, body } = res;
  if (isReadableStream(body)) {
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
    const n = headers[i][0];
    if (n.length === name.length && n.toLowerCase() === name) return headers[i][1];
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
    if (!goodNames.has(name)) {
      if (!TOKEN.test(name)) throw invalidField(name);
      // Handlers answer with the same few names: each is matched once.
      if (goodNames.size >= GOOD_NAMES) goodNames.clear();
      goodNames.add(name);
    }
    if (BAD_FIELD_VALUE.test(value)) throw invalidField(name);
  }
}

/** Field names found to be tokens (a bounded set: it starts over when full). */
const goodNames = new Set<string>();
/** Most names {@linkcode goodNames} holds. */
const GOOD_NAMES = 256;

function invalidField(name: string): TypeError {
  return new TypeError(`invalid response header field: ${JSON.stringify(name.slice(0, 64))}`);
}

const utf8 = new TextEncoder();
