/**
 * A raw-socket HTTP/1.1 client for tests: sends exactly the bytes a test writes (malformed
 * ones included) and reads responses off the wire with their framing, so a test sees what a
 * server really sent, how it framed it, and whether it closed the connection.
 * @module
 */

const enc = new TextEncoder();

/** One response read off the wire. */
export interface RawResponse {
  status: number;
  /** Header fields, names lower-cased, in order. */
  headers: Array<[string, string]>;
  /** The body bytes as latin1 text (chunked bodies decoded). */
  body: string;
  /** How the body was framed. */
  framing: "length" | "chunked" | "close" | "none";
}

/** The first value of header `name` (lower-case) in `r`. */
export function header(r: RawResponse, name: string): string | undefined {
  return r.headers.find(([k]) => k === name)?.[1];
}

/** The body of `r` as JSON. */
export function json(r: RawResponse): Record<string, unknown> {
  return JSON.parse(r.body);
}

/** A connection to a server, read with a buffer. */
export class RawConn {
  #buf = "";
  #eof = false;
  private constructor(readonly conn: Deno.Conn) {}

  /** Connects to `port` on loopback. */
  static async open(port: number, hostname = "127.0.0.1"): Promise<RawConn> {
    return new RawConn(await Deno.connect({ hostname, port }));
  }

  /** Writes `data` (a string is sent one byte per char). */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? latin1Bytes(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  /** Shuts down the sending side (the server sees the end of the stream). */
  async closeWrite(): Promise<void> {
    await this.conn.closeWrite();
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  /** The one read in flight, if any (a read that outlived a timeout stays pending). */
  #pending: Promise<void> | undefined;

  #startRead(): Promise<void> {
    if (this.#pending) return this.#pending;
    const buf = new Uint8Array(65536);
    const p = this.conn.read(buf).then(
      (n) => {
        if (n === null) this.#eof = true;
        else this.#buf += latin1(buf.subarray(0, n));
      },
      () => {
        this.#eof = true; // a reset or our own close
      },
    ).finally(() => this.#pending = undefined);
    this.#pending = p;
    return p;
  }

  /** Reads more bytes; false at EOF (or a reset) or when `deadline` passes. */
  async #fill(deadline: number): Promise<boolean> {
    if (this.#eof) return false;
    const before = this.#buf.length;
    const read = this.#startRead();
    const left = deadline - Date.now();
    if (left <= 0) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left));
    const outcome = await Promise.race([read, timeout]);
    clearTimeout(timer);
    if (outcome === "timeout") return false;
    return this.#buf.length > before;
  }

  /**
   * Reads one response. Resolves undefined when the connection closed (or `timeoutMs` passed)
   * before a whole response arrived.
   */
  async read(timeoutMs = 10_000, opts: { head?: boolean } = {}): Promise<RawResponse | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = parseResponse(this.#buf, this.#eof, opts.head ?? false);
      if (r) {
        this.#buf = this.#buf.slice(r.used);
        if (r.response.status === 100) continue; // interim: read the final one
        return r.response;
      }
      if (!await this.#fill(deadline)) {
        const last = parseResponse(this.#buf, this.#eof, opts.head ?? false);
        if (last) {
          this.#buf = this.#buf.slice(last.used);
          return last.response;
        }
        return undefined;
      }
    }
  }

  /** Reads one response including interim (1xx) ones. */
  async readInterim(timeoutMs = 10_000): Promise<RawResponse | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = parseResponse(this.#buf, this.#eof, false);
      if (r) {
        this.#buf = this.#buf.slice(r.used);
        return r.response;
      }
      if (!await this.#fill(deadline)) return undefined;
    }
  }

  /**
   * The status of the next response as soon as its head is in (a stream that goes on is
   * not waited for); undefined when none arrives within `timeoutMs`.
   */
  async status(timeoutMs = 10_000): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n/.exec(this.#buf);
      if (m && m[1] !== "100") return Number(m[1]);
      if (m) this.#buf = this.#buf.slice(m[0].length); // interim: the final one follows
      else if (!await this.#fill(deadline)) {
        if (this.#eof || Date.now() >= deadline) return undefined;
      }
    }
  }

  /** True once the server closed the connection (waits up to `timeoutMs`). */
  async closed(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#eof) {
      if (!await this.#fill(deadline) && !this.#eof && Date.now() >= deadline) return false;
    }
    return true;
  }

  /**
   * Reads until the bytes not yet parsed satisfy `done` (a streamed answer going on); false
   * when the connection closed or `timeoutMs` passed first.
   */
  async until(done: (pending: string) => boolean, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.#buf)) if (!await this.#fill(deadline) && !done(this.#buf)) return false;
    return true;
  }

  /** Bytes received and not yet parsed. */
  get pending(): string {
    return this.#buf;
  }
}

/** Sends `request` on a fresh connection and reads one response (undefined: none). */
export async function exchange(
  port: number,
  request: string | Uint8Array,
  opts: { timeoutMs?: number; closeWrite?: boolean; head?: boolean } = {},
): Promise<RawResponse | undefined> {
  const c = await RawConn.open(port);
  try {
    await c.write(request);
    if (opts.closeWrite) await c.closeWrite();
    return await c.read(opts.timeoutMs ?? 10_000, { head: opts.head });
  } finally {
    c.close();
  }
}

/** Parses one response at the start of `text`; undefined when it is not complete yet. */
function parseResponse(
  text: string,
  eof: boolean,
  head: boolean,
): { response: RawResponse; used: number } | undefined {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const lines = text.slice(0, end).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
  const status = Number(m[1]);
  const headers = lines.slice(1).map((l): [string, string] => {
    const i = l.indexOf(":");
    return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
  });
  const start = end + 4;
  const get = (n: string) => headers.find(([k]) => k === n)?.[1];
  const response = (body: string, framing: RawResponse["framing"]) => ({
    status,
    headers,
    body,
    framing,
  });
  if (head || status === 204 || status === 304 || status < 200) {
    return { response: response("", "none"), used: start };
  }
  if (get("transfer-encoding")?.toLowerCase() === "chunked") {
    const decoded = decodeChunked(text, start);
    return decoded && { response: response(decoded.body, "chunked"), used: decoded.end };
  }
  const cl = get("content-length");
  if (cl !== undefined) {
    const n = Number(cl);
    if (text.length - start < n) return undefined;
    return { response: response(text.slice(start, start + n), "length"), used: start + n };
  }
  if (!eof) return undefined;
  return { response: response(text.slice(start), "close"), used: text.length };
}

function decodeChunked(text: string, pos: number): { body: string; end: number } | undefined {
  let body = "";
  for (;;) {
    const lineEnd = text.indexOf("\r\n", pos);
    if (lineEnd < 0) return undefined;
    const size = parseInt(text.slice(pos, lineEnd).split(";")[0], 16);
    if (Number.isNaN(size)) throw new Error(`bad chunk size line at ${pos}`);
    if (size === 0) {
      const trailerEnd = text.indexOf("\r\n", lineEnd + 2);
      if (trailerEnd < 0) return undefined;
      // No trailers from our servers: the last chunk is followed by an empty line.
      return { body, end: trailerEnd + 2 };
    }
    if (text.length < lineEnd + 2 + size + 2) return undefined;
    body += text.slice(lineEnd + 2, lineEnd + 2 + size);
    pos = lineEnd + 2 + size + 2;
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

function latin1Bytes(s: string): Uint8Array {
  if (!/[\x80-\uffff]/.test(s)) return enc.encode(s);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}
