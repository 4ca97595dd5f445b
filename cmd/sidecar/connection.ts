/**
 * One upstream TCP connection with a read buffer and a deadline: the I/O half of the
 * sidecar's HTTP/1.1 client. A deadline that passes closes the socket, which fails whatever
 * read or write is pending with a timeout error.
 *
 * The deadline timer is lazy: one timer per connection stays armed across exchanges and only
 * re-arms itself when it fires early (for a later exchange's deadline), so a busy keep-alive
 * connection creates a timer about once per timeout period instead of once per request.
 * @module
 */

/** Why an upstream request failed. */
export class UpstreamError extends Error {
  override name = "UpstreamError";
  constructor(readonly kind: "timeout" | "connect" | "protocol", message: string) {
    super(message);
  }
}

const INITIAL_BUFFER = 16 * 1024;
const INITIAL_WRITE_BUFFER = 4 * 1024;
const encoder = new TextEncoder();

/** A buffered connection. */
export class Connection {
  #buf = new Uint8Array(INITIAL_BUFFER);
  #start = 0;
  #end = 0;
  #out: Uint8Array | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the pending timer fires (ms since epoch). */
  #timerAt = 0;
  /** Deadline of the exchange in progress. */
  #deadline = 0;
  #armed = false;
  #timedOut = false;
  #closed = false;
  /** Response bytes received since the last arm() (0 means the server sent nothing). */
  received = 0;

  constructor(readonly tcp: Deno.TcpConn) {}

  /** Bytes read but not consumed (a connection with leftovers cannot be reused). */
  get pending(): number {
    return this.#end - this.#start;
  }

  /** Starts the deadline for one exchange. */
  arm(deadline: number): void {
    this.received = 0;
    this.#deadline = deadline;
    this.#armed = true;
    // A pending timer that fires no later than this deadline re-checks when it fires.
    if (this.#timer === undefined || this.#timerAt > deadline) this.#schedule(deadline);
  }

  #schedule(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, at - Date.now()));
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    if (!this.#armed || this.#closed) return;
    if (Date.now() >= this.#deadline) {
      this.#timedOut = true;
      this.close();
    } else this.#schedule(this.#deadline);
  };

  /** Ends the deadline once the exchange completed. */
  disarm(): void {
    this.#armed = false;
  }

  /** Writes a request head (UTF-8) followed by `body`, in one write. */
  async writeMessage(head: string, body: Uint8Array): Promise<void> {
    const need = head.length * 3 + body.length;
    let out = this.#out;
    if (out === undefined || out.length < need) {
      out = this.#out = new Uint8Array(Math.max(INITIAL_WRITE_BUFFER, need));
    }
    const n = encoder.encodeInto(head, out).written;
    out.set(body, n);
    await this.writeAll(out.subarray(0, n + body.length));
    // Large one-off messages do not stay attached to a pooled connection.
    if (out.length > 64 * 1024) this.#out = undefined;
  }

  #fail(err: unknown): never {
    if (this.#timedOut) throw new UpstreamError("timeout", "upstream timed out");
    if (err instanceof UpstreamError) throw err;
    throw new UpstreamError("connect", err instanceof Error ? err.message : String(err));
  }

  /** Writes all of `data`. */
  async writeAll(data: Uint8Array): Promise<void> {
    try {
      let off = 0;
      while (off < data.length) off += await this.tcp.write(data.subarray(off));
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Reads more into the buffer; false at end of stream. */
  async #fill(): Promise<boolean> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      const live = this.#buf.subarray(this.#start, this.#end);
      const next = this.#start > 0 ? this.#buf : new Uint8Array(this.#buf.length * 2);
      next.set(live);
      this.#buf = next;
      this.#end = live.length;
      this.#start = 0;
    }
    let n: number | null;
    try {
      n = await this.tcp.read(this.#buf.subarray(this.#end));
    } catch (err) {
      this.#fail(err);
    }
    if (this.#timedOut) this.#fail(null);
    if (n === null) return false;
    this.#end += n;
    this.received += n;
    return true;
  }

  /** Reads up to and including the blank line ending a response head; returns it as text. */
  async readHead(max: number): Promise<string> {
    return latin1(await this.readHeadBytes(max));
  }

  /**
   * Reads up to and including the blank line ending a response head; returns the head without
   * that blank line as a view of the read buffer, valid until the next read.
   */
  async readHeadBytes(max: number): Promise<Uint8Array> {
    // `scanned` counts from #start, which #fill may move; absolute offsets would go stale.
    let scanned = 0;
    for (;;) {
      const b = this.#buf;
      const s = this.#start;
      for (let i = s + Math.max(3, scanned); i < this.#end; i++) {
        if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) {
          this.#start = i + 1;
          return b.subarray(s, i - 3);
        }
      }
      scanned = this.#end - s;
      if (scanned > max) throw new UpstreamError("protocol", "response head too large");
      if (!await this.#fill()) {
        throw new UpstreamError(
          this.received === 0 ? "connect" : "protocol",
          "connection closed before a response",
        );
      }
    }
  }

  /** Reads one CRLF-terminated line (without the CRLF), at most `max` bytes. */
  async readLine(max: number): Promise<string> {
    let scanned = 0;
    for (;;) {
      const b = this.#buf;
      const s = this.#start;
      for (let i = s + Math.max(1, scanned); i < this.#end; i++) {
        if (b[i] === 10 && b[i - 1] === 13) {
          this.#start = i + 1;
          return latin1(b.subarray(s, i - 1));
        }
      }
      scanned = this.#end - s;
      if (scanned > max) throw new UpstreamError("protocol", "line too long");
      if (!await this.#fill()) throw new UpstreamError("protocol", "body cut short");
    }
  }

  /** Reads exactly `n` bytes into a new array. */
  async readExactly(n: number): Promise<Uint8Array<ArrayBuffer>> {
    const out = new Uint8Array(n);
    let got = Math.min(n, this.#end - this.#start);
    out.set(this.#buf.subarray(this.#start, this.#start + got));
    this.#start += got;
    while (got < n) {
      let r: number | null;
      try {
        r = await this.tcp.read(out.subarray(got));
      } catch (err) {
        this.#fail(err);
      }
      if (this.#timedOut) this.#fail(null);
      if (r === null) throw new UpstreamError("protocol", "body cut short");
      got += r;
      this.received += r;
    }
    return out;
  }

  /** Reads what is available (at most `max` bytes); null at end of stream. */
  async readSome(max: number): Promise<Uint8Array | null> {
    if (this.#start === this.#end && !await this.#fill()) return null;
    const n = Math.min(max, this.#end - this.#start);
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Closes the socket (idempotent). */
  close(): void {
    this.#armed = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.tcp.close();
    } catch { /* already closed */ }
  }
}

/** Bytes as ISO-8859-1 text (every byte one character). */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    // apply() with the typed array itself: a spread would copy it into an array first.
    const part = bytes.subarray(i, Math.min(bytes.length, i + 4096));
    s += String.fromCharCode.apply(null, part as unknown as number[]);
  }
  return s;
}
