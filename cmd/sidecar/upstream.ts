/**
 * A small HTTP/1.1 client for the sidecar's one upstream: a bounded pool of keep-alive TCP
 * connections, requests written in one call, responses parsed in place. It exists because
 * `fetch` costs several times more per proxied request than the rest of the sidecar together
 * (measured in the README Performance section); https upstreams still go through `fetch`.
 *
 * Small bodies with a Content-Length are read whole; chunked, close-delimited and large bodies
 * are streamed. A request on a reused connection that fails before any response byte arrives
 * is retried once on a fresh connection (the server closed an idle connection).
 * @module
 */
import { ChunkedDecoder } from "./chunked.ts";
import { Connection, latin1, UpstreamError } from "./connection.ts";

export { UpstreamError } from "./connection.ts";

/** Idle connections kept per upstream by default. */
export const DEFAULT_MAX_IDLE = 128;
/** Largest response head accepted. */
export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
/** Bodies up to this size (with a Content-Length) are read whole instead of streamed. */
export const BUFFER_BODY_BYTES = 256 * 1024;

/** A parsed response. */
export interface UpstreamResponse {
  status: number;
  contentType: string | null;
  body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null;
}

/** The parts of a response head the client uses. */
export interface Head {
  status: number;
  contentType: string | null;
  length: number | undefined;
  chunked: boolean;
  close: boolean;
}

const SP = 32;
const TAB = 9;
const CR = 13;
const LF = 10;
const COLON = 58;
const HTTP_1_DOT = Uint8Array.of(72, 84, 84, 80, 47, 49, 46); // "HTTP/1."
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const CONTENT_TYPE = ascii("content-type");
const CONTENT_LENGTH = ascii("content-length");
const TRANSFER_ENCODING = ascii("transfer-encoding");
const CONNECTION = ascii("connection");
const CHUNKED = ascii("chunked");
const CLOSE = ascii("close");
const KEEP_ALIVE = ascii("keep-alive");

/** What String.prototype.trim removes, for ISO-8859-1 bytes. */
function isTrimmed(c: number): boolean {
  return c === SP || (c >= TAB && c <= CR) || c === 0xa0;
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

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Parses a response head (status line and header lines separated by CRLF, without the final
 * blank line) straight from bytes: only the four headers the client needs become strings.
 */
export function parseHeadBytes(b: Uint8Array): Head {
  let lineEnd = indexOfCrlf(b, 0);
  let ok = lineEnd >= 12 && (b[7] === 48 || b[7] === 49) && b[8] === SP && isDigit(b[9]) &&
    isDigit(b[10]) && isDigit(b[11]);
  for (let i = 0; ok && i < HTTP_1_DOT.length; i++) ok = b[i] === HTTP_1_DOT[i];
  if (!ok) throw new UpstreamError("protocol", "malformed status line");
  const head: Head = {
    status: (b[9] - 48) * 100 + (b[10] - 48) * 10 + (b[11] - 48),
    contentType: null,
    length: undefined,
    chunked: false,
    close: b[7] === 48,
  };
  while (lineEnd < b.length) {
    const start = lineEnd + 2;
    lineEnd = indexOfCrlf(b, start);
    let colon = start;
    while (colon < lineEnd && b[colon] !== COLON) colon++;
    if (colon === lineEnd || colon === start) continue;
    let ns = start;
    let ne = colon;
    while (ns < ne && isTrimmed(b[ns])) ns++;
    while (ne > ns && isTrimmed(b[ne - 1])) ne--;
    const len = ne - ns;
    if (
      len !== CONTENT_TYPE.length && len !== CONTENT_LENGTH.length &&
      len !== TRANSFER_ENCODING.length && len !== CONNECTION.length
    ) continue;
    const isType = nameIs(b, ns, ne, CONTENT_TYPE);
    const isLength = !isType && nameIs(b, ns, ne, CONTENT_LENGTH);
    const isTe = !isType && !isLength && nameIs(b, ns, ne, TRANSFER_ENCODING);
    if (!isType && !isLength && !isTe && !nameIs(b, ns, ne, CONNECTION)) continue;
    let vs = colon + 1;
    let ve = lineEnd;
    while (vs < ve && isTrimmed(b[vs])) vs++;
    while (ve > vs && isTrimmed(b[ve - 1])) ve--;
    if (isType) head.contentType = contentTypeText(b, vs, ve);
    else if (isLength) head.length = contentLength(b, vs, ve);
    else if (isTe) head.chunked = includesIgnoreCase(b, vs, ve, CHUNKED);
    else {
      head.close = includesIgnoreCase(b, vs, ve, CLOSE) ||
        (head.close && !includesIgnoreCase(b, vs, ve, KEEP_ALIVE));
    }
  }
  return head;
}

/** A Content-Length value: 1 to 15 digits. */
function contentLength(b: Uint8Array, s: number, e: number): number {
  if (e - s < 1 || e - s > 15) throw new UpstreamError("protocol", "bad Content-Length");
  let n = 0;
  for (let i = s; i < e; i++) {
    if (!isDigit(b[i])) throw new UpstreamError("protocol", "bad Content-Length");
    n = n * 10 + (b[i] - 48);
  }
  return n;
}

/** True when `b[s..e)` contains the lower-case ASCII `word`, ignoring ASCII case. */
function includesIgnoreCase(b: Uint8Array, s: number, e: number, word: Uint8Array): boolean {
  for (let i = s; i + word.length <= e; i++) {
    if (nameIs(b, i, i + word.length, word)) return true;
  }
  return false;
}

/** The last content type seen, as bytes and text (agents answer with the same one). */
let lastTypeBytes = new Uint8Array(0);
let lastTypeText = "";

function contentTypeText(b: Uint8Array, s: number, e: number): string {
  const n = e - s;
  if (n === lastTypeBytes.length) {
    let same = true;
    for (let i = 0; i < n && same; i++) same = b[s + i] === lastTypeBytes[i];
    if (same) return lastTypeText;
  }
  const text = latin1(b.subarray(s, e));
  if (n <= 256) {
    lastTypeBytes = b.slice(s, e);
    lastTypeText = text;
  }
  return text;
}

/** Index of the next CRLF at or after `from`, or `b.length`. */
function indexOfCrlf(b: Uint8Array, from: number): number {
  for (let i = from; i + 1 < b.length; i++) {
    if (b[i] === CR && b[i + 1] === LF) return i;
  }
  return b.length;
}

/** Parses a response head given as text (ISO-8859-1); see {@linkcode parseHeadBytes}. */
export function parseHead(text: string): Head {
  return parseHeadBytes(Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff));
}

/** The keep-alive pool for one upstream origin. */
export class UpstreamPool {
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  readonly #idle: Connection[] = [];
  readonly #maxIdle: number;
  #closed = false;

  constructor(origin: URL, opts: { maxIdle?: number } = {}) {
    this.#host = origin.hostname.replace(/^\[|\]$/g, "");
    this.#port = Number(origin.port || 80);
    this.#hostHeader = origin.host;
    this.#maxIdle = opts.maxIdle ?? DEFAULT_MAX_IDLE;
  }

  /** Sends a request and resolves once the response head arrived (the body may stream). */
  async request(
    pathAndQuery: string,
    headers: Array<[string, string]>,
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<UpstreamResponse> {
    let head =
      `POST ${pathAndQuery} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\ncontent-length: ${body.length}\r\n`;
    for (let i = 0; i < headers.length; i++) head += `${headers[i][0]}: ${headers[i][1]}\r\n`;
    head += "\r\n";
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0;; attempt++) {
      const pooled = this.#idle.pop();
      const conn = pooled ?? await this.#connect(deadline);
      try {
        return await this.#exchange(conn, head, body, deadline);
      } catch (err) {
        conn.close();
        const stale = pooled !== undefined && attempt === 0 && conn.received === 0 &&
          !(err instanceof UpstreamError && err.kind === "timeout");
        if (!stale) throw err;
      }
    }
  }

  async #connect(deadline: number): Promise<Connection> {
    const wait = deadline - Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new UpstreamError("timeout", "connect timed out")),
        Math.max(0, wait),
      );
    });
    const connecting = Deno.connect({ hostname: this.#host, port: this.#port });
    try {
      const tcp = await Promise.race([connecting, timeout]);
      tcp.setNoDelay(true);
      return new Connection(tcp);
    } catch (err) {
      connecting.then((c) => c.close(), () => {});
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError("connect", (err as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }

  async #exchange(
    conn: Connection,
    requestHead: string,
    body: Uint8Array,
    deadline: number,
  ): Promise<UpstreamResponse> {
    conn.arm(deadline);
    await conn.writeMessage(requestHead, body);
    let head: Head;
    do {
      head = parseHeadBytes(await conn.readHeadBytes(MAX_RESPONSE_HEAD_BYTES));
    } while (head.status >= 100 && head.status < 200); // 100 Continue and friends
    const done = () => this.#release(conn, head.close);
    if (head.status === 204 || head.status === 304 || head.length === 0) {
      done();
      return { status: head.status, contentType: head.contentType, body: null };
    }
    if (!head.chunked && head.length !== undefined && head.length <= BUFFER_BODY_BYTES) {
      const body = await conn.readExactly(head.length);
      done();
      return { status: head.status, contentType: head.contentType, body };
    }
    return { status: head.status, contentType: head.contentType, body: this.#stream(conn, head) };
  }

  #stream(conn: Connection, head: Head): ReadableStream<Uint8Array> {
    let left = head.length ?? Infinity;
    const chunked = head.chunked ? new ChunkedDecoder(conn) : undefined;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const chunk = chunked ? await chunked.next() : await conn.readSome(left);
          if (chunk === null) {
            if (!chunked && left !== Infinity && left > 0) {
              throw new UpstreamError("protocol", "body cut short");
            }
            controller.close();
            this.#release(conn, head.close || (!chunked && head.length === undefined));
            return;
          }
          if (!chunked) left -= chunk.length;
          controller.enqueue(chunk);
          if (left === 0) {
            controller.close();
            this.#release(conn, head.close);
          }
        } catch (err) {
          conn.close();
          controller.error(err);
        }
      },
      cancel: () => conn.close(),
    });
  }

  #release(conn: Connection, close: boolean): void {
    conn.disarm();
    if (close || this.#closed || conn.pending > 0 || this.#idle.length >= this.#maxIdle) {
      conn.close();
    } else this.#idle.push(conn);
  }

  /** Closes every idle connection; in-flight ones close when they finish. */
  close(): void {
    this.#closed = true;
    for (const c of this.#idle.splice(0)) c.close();
  }
}

/** Sends one POST to the agent; rejects with an {@linkcode UpstreamError}. */
export type SendUpstream = (
  pathAndQuery: string,
  headers: Array<[string, string]>,
  body: Uint8Array<ArrayBuffer>,
  timeoutMs: number,
) => Promise<UpstreamResponse>;

/** The agent client: the keep-alive pool for http://, `fetch` for https://. */
export function createUpstreamClient(agentUrl: string): { send: SendUpstream; close(): void } {
  const origin = new URL(agentUrl);
  if (origin.protocol === "http:") {
    const pool = new UpstreamPool(origin);
    return { send: (p, h, b, t) => pool.request(p, h, b, t), close: () => pool.close() };
  }
  const client = Deno.createHttpClient({});
  return {
    send: async (pathAndQuery, headers, body, timeoutMs) => {
      let res: Response;
      try {
        res = await fetch(new URL(pathAndQuery, origin), {
          method: "POST",
          headers,
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutMs),
          client,
        });
      } catch (err) {
        const timedOut = err instanceof DOMException && err.name === "TimeoutError";
        throw new UpstreamError(timedOut ? "timeout" : "connect", (err as Error).message);
      }
      return { status: res.status, contentType: res.headers.get("content-type"), body: res.body };
    },
    close: () => client.close(),
  };
}
