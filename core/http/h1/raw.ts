/**
 * The raw path: a hot route served straight from the parsed head, with the body as bytes and
 * the answer as a status, header pairs and bytes, so no fetch Request or Response is built for
 * it. Framing, bounds, deadlines and keep-alive stay the connection's, as on every other route.
 * @module
 */
import type { RequestBody } from "./body.ts";
import { bodyTooLarge } from "./body.ts";
import type { RequestHead } from "./head.ts";

import type { FieldPair } from "../wire/mod.ts";

/**
 * Response header fields as name/value pairs, in order; a pair may carry its value's bytes too
 * (see `FieldPair`), which the writer copies as they are.
 */
export type HeaderPairs = FieldPair[];

/** An answer on the raw path. */
export interface RawResponse {
  status: number;
  /** Fields besides the framing ones (Content-Length, Transfer-Encoding, Connection). */
  headers: HeaderPairs;
  /** Bytes or text (sent as UTF-8) with a Content-Length, a stream sent chunked, or none. */
  body: Uint8Array<ArrayBuffer> | string | ReadableStream<Uint8Array> | null;
  /**
   * Called once the body's bytes were copied out (the answer is then sent from the copy), so
   * their buffer may be reused; not called when the answer is dropped or written otherwise.
   */
  release?: () => void;
  /**
   * `performance.now()` when the route finished its answer, when it read the clock for figures
   * of its own (an upstream's latency): the request's latency metric ends there rather than
   * reading the clock again (a read costs about 3k instructions).
   */
  endedAt?: number;
}

/** A request on the raw path. */
export interface RawRequest {
  readonly method: string;
  /** The request-target exactly as sent. */
  readonly target: string;
  /** Field lines in order, names lower-cased. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The value of field `name` (lower case); repeated fields joined with ", "; else null. */
  header(name: string): string | null;
  /**
   * The whole body (empty for GET and HEAD), read at most once.
   * @throws {HttpError} 413 over `limit` (a declared length over it before any byte is read),
   * 400 when it ends early or breaks its framing, 408 past the body deadline
   */
  body(limit: number): Promise<Uint8Array<ArrayBuffer>>;
  /**
   * The whole body at once when it is already in memory and within `limit` (it is then read),
   * else undefined: read it with {@linkcode RawRequest.body}. Spares a wait for what is here.
   */
  bodyNow?(limit: number): Uint8Array<ArrayBuffer> | undefined;
}

/**
 * A route served on the raw path; `serve` never throws or rejects (the server wraps it so), and
 * answers at once when it can (no promise then).
 */
export interface RawHandler {
  serve(req: RawRequest): RawResponse | Promise<RawResponse>;
  /**
   * The handler reads the request body's bytes only until its answer resolves (it copies what
   * it keeps): a small body already buffered is then handed over in a pooled buffer, reused for
   * a later request once the answer resolved.
   */
  readonly leasesBody?: boolean;
  /**
   * Every answer's header pairs were checked with `checkHeaderPairs` (h1/response.ts) before
   * `serve` returned them, and any added afterwards are safe by construction: the writer does
   * not check them again.
   */
  readonly checksHeaders?: boolean;
}

const EMPTY = new Uint8Array(0);

/** The request a connection hands to a raw handler. */
export class ConnectionRequest implements RawRequest {
  readonly #head: RequestHead;
  readonly #body: Uint8Array<ArrayBuffer> | RequestBody | null;
  #read = false;

  /**
   * @param head the parsed head
   * @param body the body: bytes already here, the connection's body reader, or none
   */
  constructor(head: RequestHead, body: Uint8Array<ArrayBuffer> | RequestBody | null) {
    this.#head = head;
    this.#body = body;
  }

  get method(): string {
    return this.#head.method;
  }

  get target(): string {
    return this.#head.target;
  }

  get headers(): ReadonlyArray<readonly [string, string]> {
    return this.#head.headers;
  }

  header(name: string): string | null {
    const h = this.#head.headers;
    let value: string | null = null;
    for (let i = 0; i < h.length; i++) {
      if (h[i][0] === name) value = value === null ? h[i][1] : `${value}, ${h[i][1]}`;
    }
    return value;
  }

  bodyNow(limit: number): Uint8Array<ArrayBuffer> | undefined {
    const body = this.#body;
    if (this.#read || !(body instanceof Uint8Array) || body.length > limit) return undefined;
    this.#read = true;
    return body;
  }

  body(limit: number): Promise<Uint8Array<ArrayBuffer>> {
    if (this.#read) return Promise.reject(new TypeError("the body was already read"));
    this.#read = true;
    const body = this.#body;
    if (body === null) return Promise.resolve(EMPTY);
    if (body instanceof Uint8Array) {
      return body.length > limit ? Promise.reject(bodyTooLarge(limit)) : Promise.resolve(body);
    }
    return body.readAll(limit);
  }
}
