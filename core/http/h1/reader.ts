/**
 * The read side of one HTTP/1.1 connection: a buffer that starts small and grows with the
 * bytes actually received (never with what a client declares), up to a fixed capacity.
 * @module
 */
import { type SocketRead, socketReader } from "../socket/mod.ts";
import { viewOf, type WordView } from "../wire/mod.ts";

/** Bytes a connection's read buffer starts with. */
const INITIAL_READ_BUFFER_BYTES = 4096;
/** Below this much free room the buffer is compacted or grown before a read. */
const MIN_READ_ROOM = 1024;
/**
 * A read-ahead with nothing buffered reads into a buffer this small (see `watch`): it is held by
 * every connection that streams (10,000 SSE subscribers hold 10,000 of them), and what it reads
 * is only the start of whatever the client sends next, the rest read into the full buffer.
 */
const PROBE_BYTES = 64;
/** The buffer of a reader that let its buffer go (see `release`). */
const RELEASED = new Uint8Array(0);
const RELEASED_VIEW = viewOf(RELEASED);

/**
 * Buffered reads from a connection. Unread bytes are `buf[start:end]`. At most one socket
 * read is in flight; {@linkcode SocketReader.more} never rejects (a failed read counts as the
 * end of the stream and is kept in `error`).
 */
export class SocketReader {
  buf: Uint8Array;
  /**
   * A view of exactly `buf`, made when `buf` is (a remembered head is compared against it four
   * bytes at a time); only the reader holds it, so a buffer it let go is not kept alive.
   */
  view: WordView;
  start = 0;
  end = 0;
  /** True once the peer closed its side (or the read failed). */
  eof = false;
  /** Why the last read failed, when it did. */
  error: unknown;
  /** Total bytes received on the connection. */
  received = 0;
  #pending: Promise<boolean> | undefined;
  /**
   * Called once with the outcome of the read in flight (as {@linkcode SocketReader.more} resolves)
   * when it ends, before anything that awaits that read resumes: a watch of the connection costs
   * no promise reaction of its own. Set it only while a read is in flight.
   */
  onEnd: ((ok: boolean) => void) | undefined;
  /** The small buffer of read-aheads (`watch`), made on first use. */
  #probe: Uint8Array | undefined;
  /** True while the read in flight is a read-ahead into the probe. */
  #probing = false;
  readonly #read: SocketRead;
  readonly #capacity: number;

  constructor(conn: Deno.Conn, capacity: number) {
    this.#read = socketReader(conn);
    this.#capacity = capacity;
    this.buf = new Uint8Array(Math.min(INITIAL_READ_BUFFER_BYTES, capacity));
    this.view = viewOf(this.buf);
  }

  /** Unread bytes in the buffer. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** True while a socket read is in flight. */
  get reading(): boolean {
    return this.#pending !== undefined;
  }

  /** Marks `n` buffered bytes as read. */
  consume(n: number): void {
    this.start += n;
    if (this.start === this.end && this.#pending === undefined) this.start = this.end = 0;
  }

  /**
   * Reads more bytes into the buffer (joining a read already in flight). Resolves false at
   * the end of the stream, or when the buffer is full (`full` then says so).
   */
  more(): Promise<boolean> {
    if (this.#pending) return this.#pending;
    if (this.eof) return Promise.resolve(false);
    if (!this.#makeRoom()) return Promise.resolve(false);
    // An empty buffer is read into as it is (no view made of all of it).
    const into = this.end === 0 ? this.buf : this.buf.subarray(this.end);
    const p = this.#read(into).then(this.#onRead, this.#onFail);
    this.#pending = p;
    return p;
  }

  /**
   * Reads ahead while the connection waits on something else (a handler, a streamed answer),
   * to notice the client going away. With nothing buffered it reads into a small buffer of its
   * own, so a connection that waits long holds no full read buffer (see `release`); what it
   * reads is appended to the buffer. Resolves like {@linkcode SocketReader.more}.
   */
  watch(): Promise<boolean> {
    if (this.#pending || this.eof || this.buffered > 0) return this.more();
    const probe = this.#probe ??= new Uint8Array(PROBE_BYTES);
    this.#probing = true;
    const p = this.#read(probe).then((n) => this.#onProbe(probe, n), this.#onFail);
    this.#pending = p;
    return p;
  }

  /** Lets the buffer go while nothing is buffered (a new one is made for the next read). */
  release(): void {
    const readingIntoBuf = this.#pending !== undefined && !this.#probing;
    if (this.buffered === 0 && !readingIntoBuf) {
      this.buf = RELEASED;
      this.view = RELEASED_VIEW;
      this.start = this.end = 0;
    }
  }

  /** Appends what a read-ahead got to the buffer (grown or remade as needed). */
  #onProbe(probe: Uint8Array, n: number): boolean {
    this.#probing = false;
    if (n === 0) return this.#onRead(0);
    if (this.start === this.end) this.start = this.end = 0;
    if (this.buf.length - this.end < n) {
      const grown = new Uint8Array(Math.max(INITIAL_READ_BUFFER_BYTES, this.end + n));
      grown.set(this.buf.subarray(0, this.end));
      this.buf = grown;
      this.view = viewOf(grown);
    }
    this.buf.set(probe.subarray(0, n), this.end);
    return this.#onRead(n);
  }

  // Made once per connection, not per read. 0 is the end of the stream (reads are never empty).
  readonly #onRead = (n: number): boolean => {
    this.#pending = undefined;
    if (n === 0) {
      this.eof = true;
      return this.#ended(false);
    }
    this.end += n;
    this.received += n;
    return this.#ended(true);
  };

  readonly #onFail = (err: unknown): boolean => {
    this.#pending = undefined;
    this.#probing = false;
    this.eof = true;
    this.error = err;
    return this.#ended(false);
  };

  /** Tells {@linkcode SocketReader.onEnd} (once) how the read ended; returns `ok`. */
  #ended(ok: boolean): boolean {
    const onEnd = this.onEnd;
    if (onEnd !== undefined) {
      this.onEnd = undefined;
      onEnd(ok);
    }
    return ok;
  }

  /** True when the buffer is at capacity with no room left to read into. */
  get full(): boolean {
    return this.start === 0 && this.end === this.buf.length && this.buf.length >= this.#capacity;
  }

  /** Compacts or grows the buffer so a read has room; false when it is full. */
  #makeRoom(): boolean {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.buf.length - this.end >= MIN_READ_ROOM) return true;
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
      if (this.buf.length - this.end >= MIN_READ_ROOM) return true;
    }
    if (this.buf.length < this.#capacity) {
      const size = Math.max(INITIAL_READ_BUFFER_BYTES, this.buf.length * 2);
      const grown = new Uint8Array(Math.min(this.#capacity, size));
      grown.set(this.buf.subarray(0, this.end));
      this.buf = grown;
      this.view = viewOf(grown);
    }
    return this.end < this.buf.length;
  }
}
