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
import { after, type Timer } from "../../async/mod.ts";
import { ChunkedDecoder } from "./chunked.ts";
import { abortedError, Connection } from "./connection.ts";
import { HttpClientError } from "./error.ts";
import { Exchange, type ExchangeHost, type Retry } from "./exchange.ts";
import { type ResponseHead, ResponseHeadMemo } from "./head.ts";
import { errorMessage } from "../../errors/mod.ts";
import { type FieldPair, latin1Bytes } from "../wire/mod.ts";

/** Idle connections kept per origin by default. */
const DEFAULT_MAX_IDLE = 128;
/** Bodies up to this size (with a Content-Length) are read whole instead of streamed. */
const BUFFER_BODY_BYTES = 256 * 1024;

/** One request. */
export interface ClientRequest {
  /** Request method (`HEAD` responses carry no body; `CONNECT` is not supported). */
  method: string;
  /** Origin-form target: the path and query, starting with `/`. */
  target: string;
  /**
   * Header fields besides Host and Content-Length (the client sets those); a field may carry its
   * value's bytes too (see `FieldPair`), written as they are.
   */
  headers: FieldPair[];
  /**
   * Read only until the answer (or the failure) resolves: the caller may reuse the bytes then.
   * They are copied into the connection's write buffer as the request is sent.
   */
  body: Uint8Array<ArrayBuffer>;
  /**
   * The caller vouches that `headers` hold only what the client's check accepts (token names,
   * values without a CTL but HTAB or a character beyond one byte): fields taken from a request
   * head the server's parse checked by the same rule, or made so. They are then not checked
   * again; the method and target always are.
   */
  headersChecked?: boolean;
  /** Deadline for the whole exchange, connect to last body byte (see `deadline`). */
  timeoutMs: number;
  /**
   * What `timeoutMs` bounds: the whole exchange (the default), or (`"head"`) connecting,
   * sending and the final response head, and a small body the answer is read whole with (it
   * resolves once that is there). A streamed body then has no deadline of its own: an
   * open-ended body (a stream of events) is bounded by its reader, through `signal`.
   */
  deadline?: "exchange" | "head";
  /**
   * Cancels the request at any point: the connection is closed, an answer not yet there
   * rejects and a body being streamed errors, both with an {@linkcode HttpClientError} of kind
   * `aborted`.
   */
  signal?: AbortSignal;
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
  /**
   * Connect to this Unix socket instead of the origin's host and port (the origin still names
   * the Host field): a local daemon's API, such as Docker's. Only for an `http:` origin.
   */
  unixPath?: string;
}

function invalid(reason: string): HttpClientError {
  return new HttpClientError("protocol", `invalid response: ${reason}`);
}

/** What a request-target or field value may not hold: a CTL but HTAB, DEL, a char beyond a byte. */
const BAD_FIELD_TEXT = /[^\t\x20-\x7e\x80-\xff]/;

/** Throws unless `value` can be written into a request head as it is (no CTL but HTAB). */
function checkFieldText(value: string, what: string): void {
  if (BAD_FIELD_TEXT.test(value)) {
    throw new HttpClientError("protocol", `invalid character in the request ${what}`);
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field names found to be tokens (a bounded set: it starts over when full). */
const goodNames = new Set<string>();
/** Most names {@linkcode goodNames} holds. */
const GOOD_NAMES = 256;

/** Throws unless `name` is a token (a name with CR LF, a space or a colon would split the head). */
function checkFieldName(name: string): void {
  if (goodNames.has(name)) return;
  if (!TOKEN.test(name)) {
    throw new HttpClientError("protocol", "invalid character in the request header name");
  }
  // Clients send the same few names: each is matched once.
  if (goodNames.size >= GOOD_NAMES) goodNames.clear();
  goodNames.add(name);
}

/** The keep-alive pool for one `http:` origin. */
export class OriginPool {
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  /** Idle connections, each with its exchange chain. */
  #idle: Exchange[] = [];
  /** The agent's last response head (it repeats itself), parsed once. */
  readonly #heads = new ResponseHeadMemo();
  readonly #maxIdle: number;
  /** The Unix socket connected to instead of the host and port, if any. */
  readonly #unixPath: string | undefined;
  #closed = false;
  /** What this pool does for the exchanges of its connections. */
  readonly #exchanges: ExchangeHost = {
    parse: (buf, start, end) => this.#heads.parse(buf, start, end),
    repeated: (conn) => conn.repeatedHead(this.#heads),
    respond: (x, req, head) => this.#respond(x, req, head),
    failed: (x, err, retry) => this.#failed(x, err, retry),
  };

  /** @param origin the origin (`http://host:port`); its path is ignored */
  constructor(origin: URL, opts: OriginPoolOptions = {}) {
    this.#host = origin.hostname.replace(/^\[|\]$/g, "");
    this.#port = Number(origin.port || 80);
    this.#hostHeader = origin.host;
    this.#maxIdle = opts.maxIdle ?? DEFAULT_MAX_IDLE;
    this.#unixPath = opts.unixPath;
  }

  /**
   * Sends a request and resolves once the final response head arrived (the body may stream).
   * @throws {HttpClientError} `timeout`, `connect` (unreachable, or closed before answering)
   * or `protocol` (an invalid response or request; the connection is closed).
   */
  request(req: ClientRequest): Promise<ClientResponse> {
    let head: Uint8Array;
    try {
      if (req.signal?.aborted) throw abortedError(req.signal.reason);
      head = this.#requestHead(req);
    } catch (err) {
      return Promise.reject(err);
    }
    const deadline = Date.now() + req.timeoutMs;
    const pooled = this.#takeIdle();
    if (pooled === undefined) return this.#onNewConnection(head, req, deadline);
    // The usual case, a pooled connection: its exchange chain, no async frame.
    return pooled.run(req, head, deadline, true);
  }

  /** Sends the request on a new connection. */
  async #onNewConnection(
    head: Uint8Array,
    req: ClientRequest,
    deadline: number,
  ): Promise<ClientResponse> {
    const conn = await this.#connect(deadline, req.signal);
    return await new Exchange(conn, this.#exchanges).run(req, head, deadline, false);
  }

  /**
   * The last request line and Host field made (as bytes, with the Content-Length field's name
   * after them), and the method and target they are for.
   */
  #lastMethod = "";
  #lastTarget = "";
  #lastLine: Uint8Array = new Uint8Array(0);

  /**
   * Checks the request's head and returns its request line, Host field and Content-Length name
   * as bytes; the connection writes the rest of the head from `req` (see
   * `Connection.writeMessage`).
   */
  #requestHead(req: ClientRequest): Uint8Array {
    // A client sends the same few targets again and again: each is checked once in a row.
    let line = this.#lastLine;
    if (req.target !== this.#lastTarget || req.method !== this.#lastMethod) {
      line = latin1Bytes(this.#requestLine(req.method, req.target));
      this.#lastMethod = req.method;
      this.#lastTarget = req.target;
      this.#lastLine = line;
    }
    if (req.headersChecked === true) return line;
    for (let i = 0; i < req.headers.length; i++) {
      checkFieldName(req.headers[i][0]);
      checkFieldText(req.headers[i][1], "header value");
    }
    return line;
  }

  /**
   * The request line and Host field of `method` and `target`, and the name of the Content-Length
   * field (its value follows, one copy of the bytes fewer per request).
   * @throws {HttpClientError} `protocol` for a method or target that cannot be sent as it is
   */
  #requestLine(method: string, target: string): string {
    if (method === "CONNECT" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) {
      throw new HttpClientError("protocol", "unsupported request method");
    }
    if (target.charCodeAt(0) !== 47) {
      throw new HttpClientError("protocol", "request target must start with /");
    }
    checkFieldText(target, "target");
    if (target.includes(" ") || target.includes("\t")) {
      throw new HttpClientError("protocol", "invalid character in the request target");
    }
    return `${method} ${target} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\ncontent-length: `;
  }

  /** A parked connection that is still alive, closing the ones that died while idle. */
  #takeIdle(): Exchange | undefined {
    for (;;) {
      const x = this.#idle.pop();
      if (x === undefined || x.conn.unpark()) return x;
      x.conn.close();
    }
  }

  async #connect(deadline: number, signal: AbortSignal | undefined): Promise<Connection> {
    const wait = deadline - Date.now();
    let timer: Timer | undefined;
    let onAbort: (() => void) | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = after(wait, () => reject(new HttpClientError("timeout", "connect timed out")));
      onAbort = () => reject(abortedError(signal?.reason));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
    const connecting = this.#unixPath === undefined
      ? Deno.connect({ hostname: this.#host, port: this.#port })
      : Deno.connect({ transport: "unix", path: this.#unixPath });
    try {
      const socket = await Promise.race([connecting, timeout]);
      if ("setNoDelay" in socket) socket.setNoDelay(true);
      return new Connection(socket);
    } catch (err) {
      connecting.then((c) => c.close(), () => {});
      if (err instanceof HttpClientError) throw err;
      const message = errorMessage(err);
      throw new HttpClientError("connect", message, { cause: err });
    } finally {
      timer?.cancel();
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }

  /** {@linkcode ExchangeHost.failed}: the connection closes; an unsent request goes out again. */
  #failed(x: Exchange, err: unknown, retry: Retry | undefined): Promise<ClientResponse> {
    x.conn.close();
    // Only a request none of whose bytes reached the socket may go out again.
    const unsent = x.conn.written === 0 && err instanceof HttpClientError &&
      err.kind === "connect";
    if (retry === undefined || !unsent) return Promise.reject(err);
    return this.#onNewConnection(retry.head, retry.req, retry.deadline);
  }

  /**
   * {@linkcode ExchangeHost.respond}: the response to a final head, its body framed by it.
   * @throws {HttpClientError} `protocol` (via a rejected read) when the body ends early
   */
  #respond(
    x: Exchange,
    req: ClientRequest,
    head: ResponseHead,
  ): ClientResponse | Promise<ClientResponse> {
    const { status, contentType } = head;
    const bodiless = req.method === "HEAD" || status === 204 || status === 304;
    if (bodiless || status === 205) {
      // A 205 must have no content (RFC 9110 §15.3.6); 204 and 304 have none whatever their
      // fields say (RFC 9112 §6.3), so fields that promise one make the connection unusable.
      const promised = head.chunked || (head.length !== undefined && head.length > 0 &&
        status !== 304 && req.method !== "HEAD");
      const unframed = status === 205 && head.length === undefined && !head.chunked;
      this.#release(x, head.close || promised || unframed);
      return { status, contentType, body: null };
    }
    if (head.length === 0) {
      this.#release(x, head.close);
      return { status, contentType, body: null };
    }
    if (!head.chunked && head.length !== undefined && head.length <= BUFFER_BODY_BYTES) {
      const conn = x.conn;
      const lent = conn.bufferedLent(head.length);
      if (lent !== undefined) {
        this.#release(x, head.close);
        return { status, contentType, body: lent.body, release: lent.release };
      }
      const whole = conn.bufferedExactly(head.length);
      if (whole !== undefined) {
        this.#release(x, head.close);
        return { status, contentType, body: whole };
      }
      return conn.readExactly(head.length).then((body) => {
        this.#release(x, head.close);
        return { status, contentType, body };
      });
    }
    // The deadline was the head's alone: a streamed body is bounded by its reader (the signal).
    // A body read whole above is not: the answer waits for it, so the deadline still runs.
    if (req.deadline === "head") x.conn.endDeadline();
    return { status, contentType, body: this.#stream(x, head) };
  }

  #stream(x: Exchange, head: ResponseHead): ReadableStream<Uint8Array> {
    const conn = x.conn;
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
            this.#release(x, head.close || closeDelimited);
            return;
          }
          if (!chunked) left -= chunk.length;
          controller.enqueue(chunk);
          if (left === 0) {
            controller.close();
            this.#release(x, head.close);
          }
        } catch (err) {
          conn.close();
          controller.error(err);
        }
      },
      cancel: () => conn.close(),
    });
  }

  #release(x: Exchange, close: boolean): void {
    const conn = x.conn;
    conn.disarm();
    if (close || this.#closed || conn.closed || conn.pending > 0 || conn.unfinishedWrite) {
      return conn.close();
    }
    if (this.#idle.length >= this.#maxIdle) {
      this.#idle = this.#idle.filter((i) => !i.conn.closed);
      if (this.#idle.length >= this.#maxIdle) return conn.close();
    }
    conn.park();
    this.#idle.push(x);
  }

  /** Idle connections that are still open (one the peer closed drops out once noticed). */
  get idleConnections(): number {
    let n = 0;
    for (const i of this.#idle) if (!i.conn.closed) n++;
    return n;
  }

  /** Closes every idle connection; in-flight ones close when they finish. */
  close(): void {
    this.#closed = true;
    for (const i of this.#idle.splice(0)) i.conn.close();
  }
}
