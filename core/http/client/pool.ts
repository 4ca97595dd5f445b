/**
 * The keep-alive pool of the HTTP/1.1 client for one origin: requests written in one call,
 * responses parsed in place and framed strictly (see head.ts), small bodies read whole,
 * chunked, close-delimited and large ones streamed. It exists because `fetch` costs several
 * times more CPU per request than this whole client.
 *
 * A request is sent again only when none of its bytes reached the socket: a pooled connection
 * found dead before writing is replaced, a write the socket refused outright is retried once
 * on a fresh connection; once any byte was written, a failure is the caller's (a POST is never
 * delivered twice). Any framing ambiguity closes the connection.
 * @module
 */
import { ChunkedDecoder } from "./chunked.ts";
import { Connection } from "./connection.ts";
import { HttpClientError } from "./error.ts";
import { type ResponseHead, ResponseHeadMemo } from "./head.ts";
import { errorMessage } from "../../errors/mod.ts";

/** Idle connections kept per origin by default. */
const DEFAULT_MAX_IDLE = 128;
/** Largest response head accepted. */
const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
/** Bodies up to this size (with a Content-Length) are read whole instead of streamed. */
const BUFFER_BODY_BYTES = 256 * 1024;
/** Most interim (1xx) responses skipped before the final one. */
const MAX_INTERIM_RESPONSES = 8;

/** One request. */
export interface ClientRequest {
  /** Request method (`HEAD` responses carry no body; `CONNECT` is not supported). */
  method: string;
  /** Origin-form target: the path and query, starting with `/`. */
  target: string;
  /** Header fields besides Host and Content-Length (the client sets those). */
  headers: Array<[string, string]>;
  /**
   * Read only until the answer (or the failure) resolves: the caller may reuse the bytes then.
   * They are copied into the connection's write buffer as the request is sent.
   */
  body: Uint8Array<ArrayBuffer>;
  /** Deadline for the whole exchange, connect to last body byte. */
  timeoutMs: number;
}

/** A response: the head arrived; a streamed body may still fail (the stream then errors). */
export interface ClientResponse {
  /** 200 to 599 (interim responses are skipped, 101 is refused). */
  status: number;
  contentType: string | null;
  /** Null for a response without content (204, 205, 304, HEAD, Content-Length 0). */
  body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null;
  /**
   * Present when `body` sits in a pooled buffer: call it once nothing reads the bytes any more
   * (they may then hold another response's). Calling it is optional (an unreleased buffer is
   * left to the collector); calling it again does nothing.
   */
  release?: () => void;
}

/** Options for {@linkcode OriginPool}. */
export interface OriginPoolOptions {
  /** Idle connections kept; default {@linkcode DEFAULT_MAX_IDLE}. */
  maxIdle?: number;
}

function invalid(reason: string): HttpClientError {
  return new HttpClientError("protocol", `invalid response: ${reason}`);
}

/** Throws unless `value` can be written into a request head as it is (no CTL but HTAB). */
function checkFieldText(value: string, what: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127 || c > 255) {
      throw new HttpClientError("protocol", `invalid character in the request ${what}`);
    }
  }
}

/** The keep-alive pool for one `http:` origin. */
export class OriginPool {
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  #idle: Connection[] = [];
  /** The agent's last response head (it repeats itself), parsed once. */
  readonly #heads = new ResponseHeadMemo();
  readonly #maxIdle: number;
  #closed = false;

  /** @param origin the origin (`http://host:port`); its path is ignored */
  constructor(origin: URL, opts: OriginPoolOptions = {}) {
    this.#host = origin.hostname.replace(/^\[|\]$/g, "");
    this.#port = Number(origin.port || 80);
    this.#hostHeader = origin.host;
    this.#maxIdle = opts.maxIdle ?? DEFAULT_MAX_IDLE;
  }

  /**
   * Sends a request and resolves once the final response head arrived (the body may stream).
   * @throws {HttpClientError} `timeout`, `connect` (unreachable, or closed before answering)
   * or `protocol` (an invalid response or request; the connection is closed).
   */
  request(req: ClientRequest): Promise<ClientResponse> {
    let head: string;
    try {
      head = this.#requestHead(req);
    } catch (err) {
      return Promise.reject(err);
    }
    const deadline = Date.now() + req.timeoutMs;
    const pooled = this.#takeIdle();
    if (pooled === undefined) return this.#onNewConnection(head, req, deadline);
    // The usual case, a pooled connection: no frame of this function is suspended for it.
    return this.#exchange(pooled, head, req, deadline).catch((err) => {
      pooled.close();
      // Only a request none of whose bytes reached the socket may go out again.
      const unsent = pooled.written === 0 && err instanceof HttpClientError &&
        err.kind === "connect";
      if (!unsent) throw err;
      return this.#onNewConnection(head, req, deadline);
    });
  }

  /** Sends the request on a new connection. */
  async #onNewConnection(
    head: string,
    req: ClientRequest,
    deadline: number,
  ): Promise<ClientResponse> {
    const conn = await this.#connect(deadline);
    try {
      return await this.#exchange(conn, head, req, deadline);
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  #requestHead(req: ClientRequest): string {
    if (req.method === "CONNECT" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(req.method)) {
      throw new HttpClientError("protocol", "unsupported request method");
    }
    if (req.target.charCodeAt(0) !== 47) {
      throw new HttpClientError("protocol", "request target must start with /");
    }
    checkFieldText(req.target, "target");
    if (req.target.includes(" ") || req.target.includes("\t")) {
      throw new HttpClientError("protocol", "invalid character in the request target");
    }
    let head = `${req.method} ${req.target} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\n` +
      `content-length: ${req.body.length}\r\n`;
    for (let i = 0; i < req.headers.length; i++) {
      const [name, value] = req.headers[i];
      checkFieldText(value, "header value");
      head += `${name}: ${value}\r\n`;
    }
    return head + "\r\n";
  }

  /** A parked connection that is still alive, closing the ones that died while idle. */
  #takeIdle(): Connection | undefined {
    for (;;) {
      const conn = this.#idle.pop();
      if (conn === undefined || conn.unpark()) return conn;
      conn.close();
    }
  }

  async #connect(deadline: number): Promise<Connection> {
    const wait = deadline - Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HttpClientError("timeout", "connect timed out")),
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
      if (err instanceof HttpClientError) throw err;
      const message = errorMessage(err);
      throw new HttpClientError("connect", message, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async #exchange(
    conn: Connection,
    requestHead: string,
    req: ClientRequest,
    deadline: number,
  ): Promise<ClientResponse> {
    conn.arm(deadline);
    await conn.writeMessage(requestHead, req.body);
    // The usual read-and-parse is done here, with no frame suspended below this one.
    let bytes = conn.bufferedHead(MAX_RESPONSE_HEAD_BYTES);
    while (bytes === undefined) {
      if (!await conn.fill()) throw conn.noResponse();
      bytes = conn.bufferedHead(MAX_RESPONSE_HEAD_BYTES);
    }
    let head = this.#heads.parse(bytes);
    for (let interim = 1; head.status < 200; interim++) {
      // RFC 9110 §15.2: skip interim responses; 101 answers an Upgrade nobody asked for.
      if (head.status === 101) throw invalid("101 Switching Protocols without an Upgrade");
      if (interim > MAX_INTERIM_RESPONSES) throw invalid("too many interim responses");
      head = this.#heads.parse(await conn.readHeadBytes(MAX_RESPONSE_HEAD_BYTES));
    }
    const { status, contentType } = head;
    const bodiless = req.method === "HEAD" || status === 204 || status === 304;
    if (bodiless || status === 205) {
      // A 205 must have no content (RFC 9110 §15.3.6); 204 and 304 have none whatever their
      // fields say (RFC 9112 §6.3), so fields that promise one make the connection unusable.
      const promised = head.chunked || (head.length !== undefined && head.length > 0 &&
        status !== 304 && req.method !== "HEAD");
      const unframed = status === 205 && head.length === undefined && !head.chunked;
      this.#release(conn, head.close || promised || unframed);
      return { status, contentType, body: null };
    }
    if (head.length === 0) {
      this.#release(conn, head.close);
      return { status, contentType, body: null };
    }
    if (!head.chunked && head.length !== undefined && head.length <= BUFFER_BODY_BYTES) {
      const lent = conn.bufferedLent(head.length);
      if (lent !== undefined) {
        this.#release(conn, head.close);
        return { status, contentType, body: lent.body, release: lent.release };
      }
      const body = conn.bufferedExactly(head.length) ?? await conn.readExactly(head.length);
      this.#release(conn, head.close);
      return { status, contentType, body };
    }
    return { status, contentType, body: this.#stream(conn, head) };
  }

  #stream(conn: Connection, head: ResponseHead): ReadableStream<Uint8Array> {
    let left = head.length ?? Infinity;
    const chunked = head.chunked ? new ChunkedDecoder(conn) : undefined;
    // A body without length or chunking ends when the server closes (RFC 9112 §6.3 item 8).
    const closeDelimited = !chunked && head.length === undefined;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const chunk = chunked ? await chunked.next() : await conn.readSome(left);
          if (chunk === null) {
            if (!chunked && !closeDelimited) throw invalid("body cut short");
            controller.close();
            this.#release(conn, head.close || closeDelimited);
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
    if (close || this.#closed || conn.closed || conn.pending > 0) return conn.close();
    if (this.#idle.length >= this.#maxIdle) {
      this.#idle = this.#idle.filter((c) => !c.closed);
      if (this.#idle.length >= this.#maxIdle) return conn.close();
    }
    conn.park();
    this.#idle.push(conn);
  }

  /** Idle connections that are still open (one the peer closed drops out once noticed). */
  get idleConnections(): number {
    let n = 0;
    for (const c of this.#idle) if (!c.closed) n++;
    return n;
  }

  /** Closes every idle connection; in-flight ones close when they finish. */
  close(): void {
    this.#closed = true;
    for (const c of this.#idle.splice(0)) c.close();
  }
}
