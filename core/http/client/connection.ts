/**
 * One TCP connection of the HTTP/1.1 client: a read buffer, a deadline, a count of the request
 * bytes the socket accepted, and a watch while it idles in the pool. A deadline that passes
 * closes the socket, which fails whatever read or write is pending with a timeout error; so
 * does the exchange's abort signal, with an `aborted` error.
 *
 * The deadline timer is lazy: one timer per connection stays armed across exchanges and only
 * re-arms itself when it fires early (for a later exchange's deadline), so a busy keep-alive
 * connection creates a timer about once per timeout period instead of once per request.
 *
 * A parked (idle) connection keeps one read pending. If the peer closes the connection, or
 * sends anything, while it idles, that read completes and the connection is marked dead, so a
 * request is never written to a connection already known to be gone. The next exchange simply
 * consumes that pending read: it costs no extra read.
 * @module
 */
import { after, type Timer } from "../../async/mod.ts";
import { HttpClientError } from "./error.ts";
import { type SocketRead, socketReader, type SocketWrite, socketWriter } from "../socket/mod.ts";
import type { ResponseHead, ResponseHeadMemo } from "./head.ts";
import { errorMessage } from "../../errors/mod.ts";
import { giveBackLease, LEASE_BYTES, leaseView, takeLease } from "../lease/mod.ts";
import {
  digitCount,
  fieldLength,
  type FieldPair,
  putCrlf,
  putDigits,
  putField,
  viewOf,
} from "../wire/mod.ts";

/** Read buffer a connection starts with (an answer's head and a small body; it grows as needed). */
const INITIAL_BUFFER = 4 * 1024;
const INITIAL_WRITE_BUFFER = 4 * 1024;
/** Write buffers larger than this are not kept attached to a pooled connection. */
const KEEP_WRITE_BUFFER = 64 * 1024;
/** Bodies up to this size are copied out of the read buffer without a view of them. */
const SMALL_COPY_BYTES = 64;
const CR = 13;
const LF = 10;

/**
 * What a request cancelled through its signal fails with (`reason`, the signal's, says why).
 */
export function abortedError(reason: unknown): HttpClientError {
  const why =
    reason === undefined || (reason instanceof DOMException && reason.name === "AbortError")
      ? ""
      : `: ${errorMessage(reason)}`;
  return new HttpClientError("aborted", `cancelled${why}`, { cause: reason });
}

/** A buffered connection. */
export class Connection {
  #buf = new Uint8Array(INITIAL_BUFFER);
  /** A view of `#buf` (a remembered head is compared against it four bytes at a time). */
  #view = viewOf(this.#buf);
  #start = 0;
  #end = 0;
  #out: Uint8Array | undefined;
  /** The last message's view of `#out` (a message of the same length is written through it). */
  #message0: Uint8Array | undefined;
  /** The buffer `#message0` is a view of. */
  #message0Of: Uint8Array | undefined;
  /** The deadline timer (core/async's: the global setTimeout would load Deno's Node layer). */
  #timer: Timer | undefined;
  /** When the pending timer fires (ms since epoch). */
  #timerAt = 0;
  /** Deadline of the exchange in progress. */
  #deadline = 0;
  #armed = false;
  #timedOut = false;
  /** The abort signal of the exchange in progress, watched until it ends. */
  #signal: AbortSignal | undefined;
  /** Why the exchange was cancelled, once its signal was aborted. */
  #abortReason: unknown;
  #aborted = false;
  #closed = false;
  /** The read issued when the connection was parked, not consumed yet. */
  #parked: Promise<number> | undefined;
  #idle = false;
  #dead = false;
  /** Response bytes received since the last arm() (0 means the peer sent nothing). */
  received = 0;
  /** Request bytes the socket accepted since the last arm() (0: nothing was sent). */
  written = 0;

  /** @param tcp the connected socket (TCP, or Unix); the connection owns and closes it */
  constructor(readonly tcp: Deno.TcpConn | Deno.UnixConn) {
    this.#socketRead = socketReader(tcp);
    this.#socketWrite = socketWriter(tcp);
  }

  /** Reads from `tcp` (resolves 0 at the end of the stream; see core/http/socket/mod.ts). */
  readonly #socketRead: SocketRead;
  /** Writes to `tcp` (through the runtime's op: see core/http/socket/mod.ts). */
  readonly #socketWrite: SocketWrite;

  /** Bytes read but not consumed (a connection with leftovers cannot be reused). */
  get pending(): number {
    return this.#end - this.#start;
  }

  /** True once the socket was closed (by us, by the deadline, or after the peer left). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts the deadline for one exchange, and watches its abort signal (an aborted one closes
   * the connection at once).
   */
  arm(deadline: number, signal?: AbortSignal): void {
    this.received = 0;
    this.written = 0;
    this.#deadline = deadline;
    this.#armed = true;
    // A pending timer that fires no later than this deadline re-checks when it fires.
    if (this.#timer === undefined || this.#timerAt > deadline) this.#schedule(deadline);
    this.#unwatch();
    if (signal === undefined) return;
    this.#signal = signal;
    if (signal.aborted) this.#onAbort();
    else signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => {
    this.#aborted = true;
    this.#abortReason = this.#signal?.reason;
    this.close();
  };

  #unwatch(): void {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#signal = undefined;
  }

  #schedule(at: number): void {
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = after(at - Date.now(), this.#onTimer);
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    if (!this.#armed || this.#closed) return;
    if (Date.now() >= this.#deadline) {
      this.#timedOut = true;
      this.close();
    } else this.#schedule(this.#deadline);
  };

  /** Ends the deadline and the watch of the abort signal once the exchange completed. */
  disarm(): void {
    this.#armed = false;
    this.#unwatch();
  }

  /** Ends the deadline alone (the signal still cancels): a body that has no deadline. */
  endDeadline(): void {
    this.#armed = false;
  }

  /**
   * Parks an idle connection (nothing pending): issues the read that notices the peer closing
   * it, or sending bytes nobody asked for, while it idles.
   */
  park(): void {
    this.#start = this.#end = 0;
    this.#idle = true;
    this.#parkedSettled = false;
    const read = this.#socketRead(this.#buf);
    this.#parked = read;
    read.then(this.#onParkedRead, this.#onParkedFailed);
  }

  /** The parked read ended (whether or not an exchange took it since). */
  #parkedSettled = false;
  /**
   * A {@linkcode fillThen} took the parked read while it was still pending: the parked read's own
   * reaction goes on with it (one reaction per read, not two).
   */
  #parkedFill = false;

  readonly #onParkedRead = (n: number): void => {
    this.#parkedSettled = true;
    if (this.#idle) return this.#idleEnded();
    if (!this.#parkedFill) return;
    this.#parkedFill = false;
    this.#onFillRead(n);
  };

  readonly #onParkedFailed = (err: unknown): void => {
    this.#parkedSettled = true;
    if (this.#idle) return this.#idleEnded();
    if (!this.#parkedFill) return;
    this.#parkedFill = false;
    this.#onFillFailed(err);
  };

  /** Anything the peer does while the connection idles (close, reset, stray bytes) ends it. */
  #idleEnded(): void {
    this.#dead = true;
    this.close();
  }

  /** Takes a parked connection for an exchange; false when it died while idle (close it). */
  unpark(): boolean {
    this.#idle = false;
    return !this.#dead && !this.#closed;
  }

  /**
   * Writes a request head (`line`, the request line, the Host field and the name of the
   * Content-Length field as bytes, then that field's value, the body's length, and `headers`)
   * followed by `body` in one write, then calls `done`, or `failed` with the error (wrapped as
   * {@linkcode fill}'s are). Header names and values must hold only characters up to U+00FF:
   * each becomes one byte, written where it goes (no head string is made). The callbacks are
   * called from the write's own reaction: no promise is made per message.
   */
  writeMessage(
    line: Uint8Array,
    headers: FieldPair[],
    body: Uint8Array,
    done: () => void,
    failed: (err: unknown) => void,
  ): void {
    let headBytes = line.length + digitCount(body.length) + 4;
    for (let i = 0; i < headers.length; i++) {
      headBytes += fieldLength(headers[i][0], headers[i][1]);
    }
    const need = headBytes + body.length;
    let out = this.#out;
    if (out === undefined || out.length < need) {
      out = this.#out = new Uint8Array(Math.max(INITIAL_WRITE_BUFFER, need));
    }
    out.set(line);
    let n = putCrlf(out, putDigits(out, line.length, body.length));
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i];
      n = putField(out, n, h[0], h[1], h[2]);
    }
    n = putCrlf(out, n);
    out.set(body, n);
    const length = n + body.length;
    let message = this.#message0;
    if (message === undefined || message.length !== length || this.#message0Of !== out) {
      message = this.#message0 = out.subarray(0, length);
      this.#message0Of = out;
    }
    if (out.length > KEEP_WRITE_BUFFER) {
      // `message` keeps it meanwhile.
      this.#out = this.#message0 = this.#message0Of = undefined;
    }
    // Usually one write takes it all (no frame is suspended for it); the rest of a partial
    // write goes through writeAll.
    this.#message = message;
    this.#written = done;
    this.#writeFailed = failed;
    this.#socketWrite(message).then(this.#onMessageWritten, this.#onMessageFailed);
  }

  /** The message {@linkcode writeMessage} writes, and what follows its write. */
  #message: Uint8Array | undefined;
  #written: (() => void) | undefined;
  #writeFailed: ((err: unknown) => void) | undefined;

  readonly #onMessageWritten = (sent: number): void => {
    const message = this.#message;
    const done = this.#written;
    const failed = this.#writeFailed;
    this.#message = this.#written = this.#writeFailed = undefined;
    this.written += sent;
    if (done === undefined || failed === undefined) return;
    if (message === undefined || sent >= message.length) return done();
    // Nothing taken yet: the read waits for the write, whose count decides whether the request
    // may go out again on another connection (a read that failed meanwhile would decide first).
    if (sent === 0) return void this.writeAll(message).then(done, failed);
    // The rest goes out while the answer is read (RFC 9112 §9.5): an agent may answer before it
    // has read the whole body (a 413, say) and read no more of it, so a write that waited for
    // the agent to take it all would end in the deadline, or in a reset, instead of that answer.
    // Until the last byte is out, the connection is not reused; a write that fails leaves it to
    // the read, which gets the answer sent before, or the end of the stream.
    this.#bodyUnsent = true;
    this.writeAll(message.subarray(sent)).then(this.#onRestWritten, this.#onRestFailed);
    done();
  };

  /** A request's rest is being written, or failed to be: the connection cannot be reused. */
  #bodyUnsent = false;

  readonly #onRestWritten = (): void => {
    this.#bodyUnsent = false;
  };

  readonly #onRestFailed = (): void => {
    // The answer, or the read's own failure, says what became of the exchange.
  };

  /** True while the last request's bytes are not all written (a connection not to reuse). */
  get unfinishedWrite(): boolean {
    return this.#bodyUnsent;
  }

  readonly #onMessageFailed = (err: unknown): void => {
    const failed = this.#writeFailed;
    this.#message = this.#written = this.#writeFailed = undefined;
    failed?.(this.#wrapped(err));
  };

  /** What a failed read or write of this connection is to its caller. */
  #wrapped(err: unknown): HttpClientError {
    if (this.#aborted) return abortedError(this.#abortReason);
    if (this.#timedOut) return new HttpClientError("timeout", "timed out", { cause: err });
    if (err instanceof HttpClientError) return err;
    const message = errorMessage(err);
    return new HttpClientError("connect", message, { cause: err });
  }

  readonly #fail: (err: unknown) => never = (err) => {
    throw this.#wrapped(err);
  };

  /** Writes all of `data`, counting what the socket accepted in {@linkcode written}. */
  async writeAll(data: Uint8Array): Promise<void> {
    try {
      let off = 0;
      while (off < data.length) {
        // The usual single write takes the buffer as it is (no view made per write).
        const n = await this.#socketWrite(off === 0 ? data : data.subarray(off));
        off += n;
        this.written += n;
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  /**
   * Reads more into the buffer; resolves false at end of stream.
   * @throws {HttpClientError} `timeout`, or `connect` when the read fails
   */
  fill(): Promise<boolean> {
    return this.#read().then(this.#filled, this.#fail);
  }

  /** {@linkcode fill}, calling back from the read's own reaction (no promise made per read). */
  fillThen(more: (ok: boolean) => void, failed: (err: unknown) => void): void {
    this.#more = more;
    this.#fillFailed = failed;
    if (this.#parked !== undefined && !this.#parkedSettled) {
      // The read issued at park, still pending: its own reaction calls back (see #onParkedRead).
      // Its bytes land at the start of the (then empty) buffer.
      this.#parked = undefined;
      this.#parkedFill = true;
      return;
    }
    this.#read().then(this.#onFillRead, this.#onFillFailed);
  }

  /** What follows the read of {@linkcode fillThen}. */
  #more: ((ok: boolean) => void) | undefined;
  #fillFailed: ((err: unknown) => void) | undefined;

  readonly #onFillRead = (n: number): void => {
    const more = this.#more;
    const failed = this.#fillFailed;
    this.#more = this.#fillFailed = undefined;
    if (this.#timedOut || this.#aborted) failed?.(this.#wrapped(null));
    else more?.(this.#filled(n));
  };

  readonly #onFillFailed = (err: unknown): void => {
    const failed = this.#fillFailed;
    this.#more = this.#fillFailed = undefined;
    failed?.(this.#wrapped(err));
  };

  /** The read a fill waits for: the one issued when the connection was parked, or a new one. */
  #read(): Promise<number> {
    const parked = this.#parked;
    if (parked !== undefined) {
      // Its bytes land at the start of the (then empty) buffer.
      this.#parked = undefined;
      return parked;
    }
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) this.#grow();
    return this.#socketRead(this.#buf.subarray(this.#end));
  }

  /** Takes a read's count in (0: the end of the stream). */
  readonly #filled = (n: number): boolean => {
    if (this.#timedOut || this.#aborted) this.#fail(null);
    if (n === 0) return false;
    this.#end += n;
    this.received += n;
    return true;
  };

  /** Makes room at the end of the buffer: compacts, or doubles it when it is all live. */
  #grow(): void {
    const live = this.#buf.subarray(this.#start, this.#end);
    const next = this.#start > 0 ? this.#buf : new Uint8Array(this.#buf.length * 2);
    next.set(live);
    if (next !== this.#buf) this.#view = viewOf(next);
    this.#buf = next;
    this.#end = live.length;
    this.#start = 0;
  }

  /** Bytes of the head being looked for already searched for its end (from #start). */
  #scanned = 0;

  /** The read buffer: a head {@linkcode bufferedHead} found is in it, from {@linkcode headStart}. */
  get buffer(): Uint8Array {
    return this.#buf;
  }

  /** Where the head {@linkcode bufferedHead} found last starts in {@linkcode buffer}. */
  headStart = 0;

  /**
   * Where the response head ends in {@linkcode buffer} (before its blank line; it starts at
   * {@linkcode headStart}, valid until the next read) when the buffer already holds all of it,
   * else -1 (`fill` and ask again). No view is made of it: a repeated head is only compared.
   * @throws {HttpClientError} `protocol` when the head exceeds `max` bytes (found whole in one
   * read or not), or has an LF without its CR (a head of LF-ended lines never ends in CRLF CRLF:
   * refused, not waited on)
   */
  bufferedHead(max: number): number {
    // Counted from #start, which a fill may move; absolute offsets would go stale.
    const b = this.#buf;
    const s = this.#start;
    for (let i = s + this.#scanned; i < this.#end; i++) {
      if (b[i] !== LF) continue;
      if (i === s || b[i - 1] !== CR) {
        this.#scanned = 0;
        throw new HttpClientError("protocol", "invalid response: LF without CR in the head");
      }
      if (i - s >= 3 && b[i - 2] === LF && b[i - 3] === CR) {
        if (i + 1 - s > max) { // a whole head over the bound that arrived in one read
          this.#scanned = 0;
          throw new HttpClientError("protocol", "response head too large");
        }
        this.#start = i + 1;
        this.#scanned = 0;
        this.headStart = s;
        return i - 3;
      }
    }
    this.#scanned = this.#end - s;
    if (this.#scanned > max) {
      this.#scanned = 0;
      throw new HttpClientError("protocol", "response head too large");
    }
    return -1;
  }

  /**
   * The head `memo` remembers when the buffer begins with it (see
   * {@linkcode ResponseHeadMemo.repeated}), taken from the buffer; else undefined (look for the
   * head's end with {@linkcode bufferedHead}).
   */
  repeatedHead(memo: ResponseHeadMemo): ResponseHead | undefined {
    const head = memo.repeated(this.#buf, this.#view, this.#start, this.#end);
    if (head !== undefined) {
      this.#start += memo.repeatedLength;
      this.#scanned = 0;
    }
    return head;
  }

  /** What a connection that ended before a whole response head is. */
  noResponse(): HttpClientError {
    return new HttpClientError(
      this.received === 0 ? "connect" : "protocol",
      "connection closed before a response",
    );
  }

  /**
   * The next `n` bytes (at most {@linkcode LEASE_BYTES}) copied into a pooled buffer when all
   * are buffered, with the function that gives the buffer back; else undefined. A new array
   * would be an allocation outside the JavaScript heap for every response.
   */
  bufferedLent(n: number): { body: Uint8Array<ArrayBuffer>; release: () => void } | undefined {
    if (n > LEASE_BYTES || this.#parked !== undefined || this.#end - this.#start < n) {
      return undefined;
    }
    let buf: Uint8Array<ArrayBuffer> | undefined = takeLease(n);
    const body = leaseView(buf, n);
    const src = this.#buf;
    const s = this.#start;
    // A small body is copied byte by byte: a view made to copy it from costs more.
    if (n <= SMALL_COPY_BYTES) { for (let i = 0; i < n; i++) body[i] = src[s + i]; }
    else body.set(src.subarray(s, s + n));
    this.#start += n;
    const release = () => {
      if (buf !== undefined) giveBackLease(buf);
      buf = undefined;
    };
    return { body, release };
  }

  /** The next `n` bytes in an array of their own when all are buffered, else undefined. */
  bufferedExactly(n: number): Uint8Array<ArrayBuffer> | undefined {
    if (this.#parked !== undefined || this.#end - this.#start < n) return undefined;
    const out = new Uint8Array(n);
    out.set(this.#buf.subarray(this.#start, this.#start + n));
    this.#start += n;
    return out;
  }

  /**
   * Reads one CRLF-terminated line, at most `max` bytes; returns it without the CRLF as a view
   * of the read buffer, valid until the next read.
   * @throws {HttpClientError} `protocol` when the line is too long or the body ends first.
   */
  async readLine(max: number): Promise<Uint8Array> {
    let scanned = 0;
    for (;;) {
      const b = this.#buf;
      const s = this.#start;
      for (let i = s + Math.max(1, scanned); i < this.#end; i++) {
        if (b[i] === LF && b[i - 1] === CR) {
          this.#start = i + 1;
          return b.subarray(s, i - 1);
        }
      }
      scanned = this.#end - s;
      if (scanned > max) throw new HttpClientError("protocol", "line too long");
      if (!await this.fill()) throw new HttpClientError("protocol", "body cut short");
    }
  }

  /**
   * Reads exactly `n` bytes into a new array.
   * @throws {HttpClientError} `protocol` when the stream ends first; `timeout`.
   */
  async readExactly(n: number): Promise<Uint8Array<ArrayBuffer>> {
    const whole = this.bufferedExactly(n);
    if (whole !== undefined) return whole;
    if (this.#parked !== undefined && !await this.fill()) {
      throw new HttpClientError("protocol", "body cut short");
    }
    const out = new Uint8Array(n);
    let got = Math.min(n, this.#end - this.#start);
    out.set(this.#buf.subarray(this.#start, this.#start + got));
    this.#start += got;
    while (got < n) {
      let r: number;
      try {
        r = await this.#socketRead(out.subarray(got));
      } catch (err) {
        this.#fail(err);
      }
      if (this.#timedOut || this.#aborted) this.#fail(null);
      if (r === 0) throw new HttpClientError("protocol", "body cut short");
      got += r;
      this.received += r;
    }
    return out;
  }

  /** Reads what is available (at most `max` bytes) into a new array; null at end of stream. */
  async readSome(max: number): Promise<Uint8Array | null> {
    if (this.#start === this.#end && !await this.fill()) return null;
    const n = Math.min(max, this.#end - this.#start);
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Closes the socket (idempotent). */
  close(): void {
    this.#armed = false;
    this.#unwatch();
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.tcp.close();
    } catch { /* already closed */ }
  }
}
