/**
 * A request body as a ReadableStream fed from the connection: Content-Length or chunked
 * framing, the body limit enforced while reading (413), a body that ends early or breaks its
 * framing fails the handler's read with 400, a body that does not arrive in time with 408.
 * @module
 */
import { HttpError } from "../../errors/mod.ts";
import { ChunkedDecoder, type ChunkedLimits } from "./chunked.ts";
import type { SocketReader } from "./reader.ts";

/** What a body needs from its connection. */
interface BodyHost {
  readonly reader: SocketReader;
  /** Runs once before the first socket read of the body (sends `100 Continue` when asked). */
  beforeRead(): Promise<void>;
  /** Resolves once the body deadline passed; undefined when there is none. */
  expired(): Promise<void> | undefined;
  /** The body ended: `complete` true when every byte of it was read. */
  finished(complete: boolean): void;
}

/** Options for {@linkcode RequestBody}. */
interface RequestBodyOptions extends ChunkedLimits {
  /** Declared length, or -1 for a chunked body. */
  length: number;
  /** Largest body accepted (413 above). */
  limit: number;
}

/**
 * The 413 for a body over `maxBytes` (the body limit middleware answers the same).
 * @example
 * ```ts
 * bodyTooLarge(1024).status; // 413
 * ```
 */
export function bodyTooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `request body exceeds ${maxBytes} bytes`, { limit_bytes: maxBytes });
}

/** Thrown into the handler's read when the body deadline passes. */
function timedOut(): HttpError {
  return new HttpError(408, "request body not received in time");
}

/**
 * The underlying source of a request body stream; use with `highWaterMark: 0` so nothing is
 * read before the handler asks.
 */
export class RequestBody implements UnderlyingDefaultSource<Uint8Array> {
  /** True once the body was read to its end (or failed). */
  settled = false;
  #complete = false;
  #left: number;
  #total = 0;
  #started = false;
  readonly #chunked: ChunkedDecoder | undefined;
  readonly #host: BodyHost;
  readonly #limit: number;
  /** The limit in force: `#limit`, or the lower one a `readAll` asked for. */
  #max: number;

  constructor(host: BodyHost, opts: RequestBodyOptions) {
    this.#host = host;
    this.#limit = opts.limit;
    this.#max = opts.limit;
    this.#left = opts.length;
    this.#chunked = opts.length < 0 ? new ChunkedDecoder(opts) : undefined;
  }

  /** Enqueues the next piece of the body, or closes or errors the stream. */
  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    try {
      if (!this.#started) {
        this.#started = true;
        if (this.#left > this.#limit) throw this.#tooLarge();
      }
      for (;;) {
        const piece = this.#chunked ? this.#nextChunked(this.#chunked) : this.#nextLength();
        if (piece === null) {
          this.#settle(true);
          controller.close();
          return;
        }
        if (piece !== undefined) {
          controller.enqueue(piece);
          return;
        }
        await this.#fill();
      }
    } catch (err) {
      this.#settle(false);
      controller.error(err);
    }
  }

  /**
   * Reads the whole body into one array (the raw path's read: no stream in between), refusing
   * more than `limit` bytes (or the connection's own limit, whichever is lower).
   * @throws {HttpError} 413 past the limit, 400 when the body ends early or breaks its framing,
   * 408 when the body deadline passes
   */
  async readAll(limit: number): Promise<Uint8Array<ArrayBuffer>> {
    const max = Math.min(limit, this.#limit);
    this.#max = max;
    const pieces: Uint8Array<ArrayBuffer>[] = [];
    let size = 0;
    try {
      if (this.#started) throw new TypeError("the body was already read");
      this.#started = true;
      if (this.#left > max) throw bodyTooLarge(max);
      for (;;) {
        const piece = this.#chunked ? this.#nextChunked(this.#chunked) : this.#nextLength();
        if (piece === null) break;
        if (piece === undefined) {
          await this.#fill();
          continue;
        }
        size += piece.length;
        if (size > max) throw bodyTooLarge(max);
        pieces.push(piece);
      }
    } catch (err) {
      this.#settle(false);
      throw err;
    }
    this.#settle(true);
    return joinPieces(pieces, size);
  }

  /**
   * For a body the handler never read: drops it when all of it is already buffered, so the
   * connection can carry the next request. Returns whether the body is now fully read.
   */
  skipBuffered(): boolean {
    if (this.settled) return this.#complete;
    if (this.#started) return false;
    const r = this.#host.reader;
    if (this.#chunked) {
      const d = this.#chunked;
      try {
        let used = 1;
        while (!d.done && used > 0) r.consume(used = d.step(r.buf, r.start, r.end));
      } catch {
        this.#settle(false);
        return false;
      }
      if (!d.done) return false;
    } else {
      if (this.#left > r.buffered) return false;
      r.consume(this.#left);
      this.#left = 0;
    }
    this.#settle(true);
    return true;
  }

  /** The handler dropped the body: the rest stays unread (the connection will close). */
  cancel(): void {
    this.#settle(false);
  }

  #settle(complete: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.#complete = complete;
    this.#host.finished(complete);
  }

  /** Next bytes of a Content-Length body from the buffer: null at the end, undefined if none. */
  #nextLength(): Uint8Array<ArrayBuffer> | null | undefined {
    if (this.#left === 0) return null;
    const r = this.#host.reader;
    const n = Math.min(this.#left, r.buffered);
    if (n === 0) return undefined;
    this.#left -= n;
    return this.#take(r.start, n);
  }

  /** Next bytes of a chunked body from the buffer: null at the end, undefined if none. */
  #nextChunked(d: ChunkedDecoder): Uint8Array<ArrayBuffer> | null | undefined {
    const r = this.#host.reader;
    for (;;) {
      if (d.done) return null;
      const used = d.step(r.buf, r.start, r.end);
      if (used === 0) return undefined;
      // A chunk announced past the limit is refused now, not after the body deadline.
      if (this.#total + d.dataLength + d.pending > this.#max) throw bodyTooLarge(this.#max);
      if (d.dataLength > 0) {
        const piece = this.#take(d.dataOffset, d.dataLength);
        r.consume(used - d.dataLength);
        return piece;
      }
      r.consume(used);
    }
  }

  /** Copies `n` bytes at `offset` out of the buffer and counts them against the limit. */
  #take(offset: number, n: number): Uint8Array<ArrayBuffer> {
    this.#total += n;
    if (this.#total > this.#limit) throw this.#tooLarge();
    const r = this.#host.reader;
    const piece = r.buf.slice(offset, offset + n);
    r.consume(offset + n - r.start);
    return piece;
  }

  /** Reads more from the socket, within the body deadline. */
  async #fill(): Promise<void> {
    const host = this.#host;
    await host.beforeRead();
    const expired = host.expired();
    const more = host.reader.more();
    const ok = expired
      ? await Promise.race([more, expired.then(() => "expired" as const)])
      : await more;
    if (ok === "expired") throw timedOut();
    if (!ok) {
      if (host.reader.full) throw new HttpError(400, "chunk framing does not fit the buffer");
      throw new HttpError(400, "request body ended early", {
        ...(this.#chunked ? {} : { missing_bytes: this.#left }),
      });
    }
  }

  #tooLarge(): HttpError {
    return bodyTooLarge(this.#limit);
  }
}

/** `pieces` in one array (the only piece itself when there is one). */
function joinPieces(pieces: Uint8Array<ArrayBuffer>[], size: number): Uint8Array<ArrayBuffer> {
  if (pieces.length === 1) return pieces[0];
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of pieces) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
