/**
 * One upstream TCP connection with a read buffer and a deadline: the I/O half of the
 * sidecar's HTTP/1.1 client. A deadline that passes closes the socket, which fails whatever
 * read or write is pending with a timeout error.
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

/** A buffered connection. */
export class Connection {
  #buf = new Uint8Array(INITIAL_BUFFER);
  #start = 0;
  #end = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
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
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.close();
    }, Math.max(0, deadline - Date.now()));
  }

  /** Clears the deadline once the exchange completed. */
  disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
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
    // `scanned` counts from #start, which #fill may move; absolute offsets would go stale.
    let scanned = 0;
    for (;;) {
      const b = this.#buf;
      const s = this.#start;
      for (let i = s + Math.max(3, scanned); i < this.#end; i++) {
        if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) {
          this.#start = i + 1;
          return latin1(b.subarray(s, i - 3));
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
    this.disarm();
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.tcp.close();
    } catch { /* already closed */ }
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 4096)));
  }
  return s;
}
