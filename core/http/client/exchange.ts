/**
 * One request and its response on a connection of the HTTP/1.1 client, as a chain of callbacks
 * made once per connection: the write, each read and the parse resume one another directly, so
 * an exchange costs one promise of its own and no suspended async frame.
 * @module
 */
import type { Connection } from "./connection.ts";
import { HttpClientError } from "./error.ts";
import type { ResponseHead } from "./head.ts";
import type { ClientRequest, ClientResponse } from "./pool.ts";

/** Largest response head accepted. */
export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
/** Most interim (1xx) responses skipped before the final one. */
const MAX_INTERIM_RESPONSES = 8;

/** What the pool does for an exchange: parsing, the response to a head, a failure. */
export interface ExchangeHost {
  /** Parses the response head `buf[start:end)` (the pool remembers the agent's usual one). */
  parse(buf: Uint8Array, start: number, end: number): ResponseHead;
  /**
   * The agent's usual head when the connection's buffer begins with it, taken from the buffer
   * (see `Connection.repeatedHead`); else undefined.
   */
  repeated(conn: Connection): ResponseHead | undefined;
  /**
   * The response to a final `head` (a promise while its body is still being read).
   * @throws {HttpClientError} when the response cannot be framed
   */
  respond(
    x: Exchange,
    req: ClientRequest,
    head: ResponseHead,
  ): ClientResponse | Promise<ClientResponse>;
  /**
   * What a failed exchange ends in: its error, or (`retry` set, the connection was pooled and
   * none of the request reached the socket) the request sent again on a new connection.
   */
  failed(x: Exchange, err: unknown, retry: Retry | undefined): Promise<ClientResponse>;
}

/** What sending a request again takes. */
export interface Retry {
  req: ClientRequest;
  /** Its request line and Host field, as written (the rest of the head is made of `req`). */
  head: Uint8Array;
  deadline: number;
}

const NO_HEAD = new Uint8Array(0);

function invalid(reason: string): HttpClientError {
  return new HttpClientError("protocol", `invalid response: ${reason}`);
}

/** The exchanges of one connection, one at a time. */
export class Exchange {
  #req: ClientRequest | undefined;
  #head: Uint8Array = NO_HEAD;
  #deadline = 0;
  #retry = false;
  #interim = 0;
  #resolve: ((res: ClientResponse) => void) | undefined;
  #reject: ((err: unknown) => void) | undefined;

  /**
   * @param conn the connection; the exchange arms, writes and reads it
   * @param host parsing, and what becomes of a response head or a failure
   */
  constructor(readonly conn: Connection, readonly host: ExchangeHost) {}

  /**
   * Writes `req` (after `head`, its request line, Host field and Content-Length name as bytes)
   * and resolves with the response once its final head (and a small body) arrived. `retry`: the
   * request may go out again after a failure that left none of its bytes on the socket.
   */
  run(
    req: ClientRequest,
    head: Uint8Array,
    deadline: number,
    retry: boolean,
  ): Promise<ClientResponse> {
    const { promise, resolve, reject } = Promise.withResolvers<ClientResponse>();
    this.#req = req;
    this.#head = head;
    this.#deadline = deadline;
    this.#retry = retry;
    this.#interim = 0;
    this.#resolve = resolve;
    this.#reject = reject;
    this.conn.arm(deadline, req.signal);
    this.conn.writeMessage(head, req.headers, req.body, this.#onBytes, this.#fail);
    return promise;
  }

  /** Parses what is buffered, reading more until a final response head is there. */
  readonly #onBytes = (): void => {
    const conn = this.conn;
    try {
      for (;;) {
        // The agent's usual head is known by one comparison; any other is looked for and parsed.
        let head = this.host.repeated(conn);
        if (head === undefined) {
          const end = conn.bufferedHead(MAX_RESPONSE_HEAD_BYTES);
          if (end < 0) {
            conn.fillThen(this.#onFilled, this.#fail);
            return;
          }
          head = this.host.parse(conn.buffer, conn.headStart, end);
        }
        const req = this.#req;
        if (req === undefined) return; // settled meanwhile
        if (head.status >= 200) {
          const res = this.host.respond(this, req, head);
          if (res instanceof Promise) res.then(this.#settle, this.#fail);
          else this.#settle(res);
          return;
        }
        // RFC 9110 §15.2: skip interim responses; 101 answers an Upgrade nobody asked for.
        if (head.status === 101) throw invalid("101 Switching Protocols without an Upgrade");
        if (++this.#interim > MAX_INTERIM_RESPONSES) throw invalid("too many interim responses");
      }
    } catch (err) {
      this.#fail(err);
    }
  };

  readonly #onFilled = (more: boolean): void => {
    if (more) this.#onBytes();
    else this.#fail(this.conn.noResponse());
  };

  readonly #settle = (res: ClientResponse): void => {
    const resolve = this.#resolve;
    this.#done();
    resolve?.(res);
  };

  readonly #fail = (err: unknown): void => {
    const resolve = this.#resolve;
    const reject = this.#reject;
    const req = this.#req;
    const retry = this.#retry && req
      ? { req, head: this.#head, deadline: this.#deadline }
      : undefined;
    this.#done();
    if (resolve === undefined || reject === undefined) return;
    this.host.failed(this, err, retry).then(resolve, reject);
  };

  /** Lets go of the finished exchange's request and callbacks. */
  #done(): void {
    this.#req = undefined;
    this.#head = NO_HEAD;
    this.#resolve = undefined;
    this.#reject = undefined;
  }
}
