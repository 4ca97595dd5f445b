/**
 * Minimal wire clients for the relay benchmark: raw-socket SSE subscribers (so 10,000 of them
 * fit in one process), a keep-alive HTTP/1.1 publisher, and the driver of the compiled client
 * (relay_load.go) that holds the subscribers and the throughput phase's publishers of both
 * servers. Subscribers work on the received bytes (native `indexOf`, no text
 * decoding, no regular expression), because with thousands of them in one process on the
 * relay's own cores the benchmark's parsing, not the server, would set the figures.
 * @module
 */

import { goBuild } from "./tools.ts";

const enc = new TextEncoder();
/** Read buffer per connection: small, because the benchmark holds 10,000 of them. */
const READ_BUFFER_BYTES = 16 * 1024;
const LF = 10;
const CR = 13;

/** Reads a connection until it closes, handing each read's bytes (valid until the next read). */
async function pump(conn: Deno.Conn, onBytes: (b: Uint8Array) => void): Promise<void> {
  const buf = new Uint8Array(READ_BUFFER_BYTES);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      onBytes(buf.subarray(0, n));
    }
  } catch { /* closed by the benchmark */ }
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** True when `buf[at..]` starts with `word`. */
function startsWith(buf: Uint8Array, at: number, word: Uint8Array): boolean {
  if (at + word.length > buf.length) return false;
  for (let i = 0; i < word.length; i++) if (buf[at + i] !== word[i]) return false;
  return true;
}

/** The JSON number at `buf[at..]` (digits, one optional fraction), NaN when there is none. */
function numberAt(buf: Uint8Array, at: number): number {
  let v = 0;
  let scale = 0;
  let digits = 0;
  for (let i = at; i < buf.length; i++) {
    const c = buf[i];
    if (c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      if (scale > 0) scale *= 10;
      digits++;
    } else if (c === 46 && scale === 0) scale = 1;
    else break;
  }
  return digits === 0 ? NaN : scale > 1 ? v / scale : v;
}

const EVENT_MESSAGE = enc.encode("event: message\n");
const DATA = enc.encode("data: ");
const T_FIELD = enc.encode('"t":');
const RETRY = enc.encode("retry:");

/**
 * A raw SSE subscriber: counts `message` events and reports the publish timestamp, the payload's
 * first field `"t"`, of each. It walks line ends with `indexOf` on the bytes as read (chunked
 * framing included: a size line never looks like an event's line) and keeps only the bytes of an
 * event cut by a read.
 */
export class SseSub {
  readonly counter = { count: 0 };
  /** Socket reads that carried bytes. */
  reads = 0;
  /** The bytes of the event under way when the last read ended. */
  #carry: Uint8Array | undefined;
  #ready = Promise.withResolvers<void>();
  #isReady = false;
  #conn: Deno.Conn | undefined;
  #done: Promise<void> | undefined;

  constructor(private readonly onT?: (sentAt: number, now: number) => void) {}

  /** Connects and resolves once the response started streaming (its `retry:` arrived). */
  async open(port: number, query: string): Promise<void> {
    this.#conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const req = `GET /subscribe?${query} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Accept: text/event-stream\r\nLast-Event-ID: now\r\n\r\n`;
    await this.#conn.write(enc.encode(req));
    this.#done = pump(this.#conn, (b) => this.#onBytes(b));
    await this.#ready.promise;
  }

  #onBytes(chunk: Uint8Array): void {
    this.reads++;
    const buf = this.#carry ? join(this.#carry, chunk) : chunk;
    if (!this.#isReady) {
      for (let i = buf.indexOf(RETRY[0]); i >= 0; i = buf.indexOf(RETRY[0], i + 1)) {
        if (startsWith(buf, i, RETRY)) {
          this.#isReady = true;
          this.#ready.resolve();
          break;
        }
      }
    }
    const now = performance.timeOrigin + performance.now();
    let start = 0; // where the event under way starts
    let message = false;
    let sentAt = NaN;
    for (let i = buf.indexOf(LF); i >= 0 && i + 1 < buf.length; i = buf.indexOf(LF, i + 1)) {
      const next = buf[i + 1];
      if (next === LF) { // the blank line: one event ends
        if (message) {
          this.counter.count++;
          if (this.onT && !Number.isNaN(sentAt)) this.onT(sentAt, now);
        }
        message = false;
        sentAt = NaN;
        start = i + 2;
        i++;
      } else if (next === EVENT_MESSAGE[0] && buf[i - 1] !== CR) {
        message ||= startsWith(buf, i + 1, EVENT_MESSAGE);
      } else if (this.onT && next === DATA[0] && startsWith(buf, i + 1, DATA)) {
        sentAt = this.#sentAt(buf, i + 1 + DATA.length);
      }
    }
    this.#carry = start >= buf.length ? undefined : buf.slice(start);
  }

  /** The payload's `"t"`: the data object's second `{` opens the payload, `"t"` its first key. */
  #sentAt(buf: Uint8Array, from: number): number {
    const outer = buf.indexOf(123, from);
    const inner = outer < 0 ? -1 : buf.indexOf(123, outer + 1);
    if (inner < 0 || !startsWith(buf, inner + 1, T_FIELD)) return NaN;
    return numberAt(buf, inner + 1 + T_FIELD.length);
  }

  async close(): Promise<void> {
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    await this.#done;
  }
}

/**
 * A keep-alive HTTP/1.1 connection for `POST`s with a JSON body, one request at a time (as
 * {@linkcode RedisConn.publish}); resolves each answer's status.
 */
export class HttpPub {
  #conn!: Deno.Conn;
  #host = "";
  #buf = new Uint8Array(READ_BUFFER_BYTES);
  #have = 0;

  /** Connects to `port` on loopback. */
  async connect(port: number): Promise<void> {
    this.#conn = await Deno.connect({ hostname: "127.0.0.1", port });
    this.#host = `127.0.0.1:${port}`;
  }

  /** POSTs `json` to `path`; resolves the status once the whole answer arrived. */
  async post(path: string, json: string): Promise<number> {
    const body = enc.encode(json);
    const head = enc.encode(
      `POST ${path} HTTP/1.1\r\nHost: ${this.#host}\r\ncontent-type: application/json\r\n` +
        `content-length: ${body.length}\r\n\r\n`,
    );
    await this.#conn.write(join(head, body));
    for (;;) {
      const answer = this.#answer();
      if (answer !== undefined) return answer;
      if (this.#have === this.#buf.length) this.#buf = join(this.#buf, this.#buf);
      const n = await this.#conn.read(this.#buf.subarray(this.#have));
      if (n === null) throw new Error("the relay closed the publishing connection");
      this.#have += n;
    }
  }

  /** The status of the answer buffered whole (which is then consumed), else undefined. */
  #answer(): number | undefined {
    const b = this.#buf.subarray(0, this.#have);
    let end = -1;
    for (let i = b.indexOf(LF); i >= 0; i = b.indexOf(LF, i + 1)) {
      if (i >= 3 && b[i - 1] === CR && b[i - 2] === LF) {
        end = i + 1;
        break;
      }
    }
    if (end < 0) return undefined;
    const head = new TextDecoder().decode(b.subarray(0, end)).toLowerCase();
    const m = /content-length:\s*(\d+)/.exec(head);
    const total = end + (m ? Number(m[1]) : 0);
    if (this.#have < total) return undefined;
    this.#buf.copyWithin(0, total, this.#have);
    this.#have -= total;
    return Number(head.slice(9, 12));
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

/** What {@linkcode SubscriberLoad.close} reports. */
export interface LoadStats {
  count: number;
  reads: number;
  /** Bytes read off every connection. */
  bytes: number;
  samples: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** Subscribers the relay at `url` cut off for a full queue (a starved reader), from /metrics. */
export async function overflows(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^iatp_relay_overflows_total(?:\{[^}]*\})? (\d+)/m.exec(text);
  return m ? Number(m[1]) : -1;
}

/**
 * The subscribers of the benchmark in a compiled process of their own (relay_load.go, built with
 * the Go toolchain): thousands of SSE or Redis subscribers, counted and timed there, driven over
 * its stdin. Its parsing costs a fraction of what the same work costs in JavaScript, so the
 * servers under test, not their clients, set the figures on a small host.
 */
export class SubscriberLoad {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #answers: Array<(line: string) => void> = [];
  #out = "";
  readonly #pumped: Promise<void>;

  private constructor(binary: string) {
    this.#child = new Deno.Command(binary, { stdin: "piped", stdout: "piped", stderr: "inherit" })
      .spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#pumped = this.#pump();
  }

  /**
   * Builds relay_load.go into a temporary folder and starts it.
   * @throws when the Go toolchain is missing or the build fails
   */
  static async start(): Promise<SubscriberLoad> {
    const dir = Deno.makeTempDirSync({ prefix: "iatp-bench-load-" });
    const sources = ["./relay_load.go", "./relay_load_parse.go"];
    const binary = await goBuild(dir, "relay_load", sources, "the relay benchmark");
    return new SubscriberLoad(binary);
  }

  async #pump(): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of this.#child.stdout) {
      this.#out += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = this.#out.indexOf("\n")) >= 0) {
        const line = this.#out.slice(0, nl);
        this.#out = this.#out.slice(nl + 1);
        this.#answers.shift()?.(line);
      }
    }
  }

  async #ask(command: string): Promise<string> {
    const answer = new Promise<string>((r) => this.#answers.push(r));
    await this.#writer.write(enc.encode(command + "\n"));
    const line = await answer;
    if (line.startsWith("error:")) throw new Error(`relay_load ${command}: ${line}`);
    return line;
  }

  /** Opens `n` SSE subscriptions (`query`) on the relay at `port`, live only. */
  async sse(port: number, query: string, n: number): Promise<void> {
    await this.#ask(`sse ${port} ${query} ${n}`);
  }

  /** Opens `n` Redis subscribers to `channel`. */
  async redis(port: number, channel: string, n: number): Promise<void> {
    await this.#ask(`redis ${port} ${channel} ${n}`);
  }

  /**
   * Publishes `n` events of `{"pad": pad}` to `topic` on the relay at `port` over `c` keep-alive
   * connections (POST /publish, one request in flight per connection); resolves when all were
   * answered 200.
   */
  async publishHttp(port: number, topic: string, n: number, c: number, pad: string): Promise<void> {
    await this.#ask(`pub-http ${port} ${topic} ${n} ${c} ${pad}`);
  }

  /** The same to Redis: `n` PUBLISH of `{"pad": pad}` to `channel` over `c` connections. */
  async publishRedis(
    port: number,
    channel: string,
    n: number,
    c: number,
    pad: string,
  ): Promise<void> {
    await this.#ask(`pub-redis ${port} ${channel} ${n} ${c} ${pad}`);
  }

  /** Whether subscribers opened from now on measure delays from their payloads' `t` (default on). */
  async stamps(on: boolean): Promise<void> {
    await this.#ask(`stamps ${on ? 1 : 0}`);
  }

  /** Messages received so far over every connection. */
  async count(): Promise<number> {
    return Number(await this.#ask("count"));
  }

  /** Closes every connection; resolves the counts and the SSE delays. */
  async close(): Promise<LoadStats> {
    return JSON.parse(await this.#ask("close"));
  }

  /** The process id (for its CPU time). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Ends the process. */
  async stop(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#child.status;
    await this.#pumped;
  }
}

if (import.meta.main) {
  console.log(`Usage: not run on its own: the relay benchmark's wire clients, imported by
scripts/bench/relay.ts, workers.ts and scale_relay.ts.`);
}
