/**
 * Minimal wire clients for the relay benchmark: raw-socket SSE subscribers (so 10,000 of them
 * fit in one process) and a RESP client for the Redis pub/sub comparison.
 * @module
 */
import { sleep } from "../../core/async/mod.ts";

const enc = new TextEncoder();
/** Read buffer per connection: small, because the benchmark holds 10,000 of them. */
const READ_BUFFER_BYTES = 8 * 1024;

/** Counts occurrences of `marker` across chunk boundaries. */
class MarkerCounter {
  #tail = "";
  count = 0;
  constructor(private readonly marker: string) {}
  push(text: string): void {
    const s = this.#tail + text;
    let i = s.indexOf(this.marker);
    while (i >= 0) {
      this.count++;
      i = s.indexOf(this.marker, i + this.marker.length);
    }
    // Keep fewer chars than the marker: a match can never sit wholly inside the tail twice.
    this.#tail = s.slice(-(this.marker.length - 1));
  }
}

/** Reads a connection until it closes, handing decoded text to `onText`. */
async function pump(conn: Deno.Conn, onText: (t: string) => void): Promise<void> {
  const buf = new Uint8Array(READ_BUFFER_BYTES);
  const dec = new TextDecoder();
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      onText(dec.decode(buf.subarray(0, n), { stream: true }));
    }
  } catch { /* closed by the benchmark */ }
}

/**
 * A raw SSE subscriber: counts messages and reports the publish timestamp `"t"` of each. Kept
 * lean (a few `indexOf` per chunk, no regular expressions), because with thousands of them in
 * one process the benchmark's own parsing, not the relay, would set the measured latency.
 */
export class SseSub {
  readonly counter = { count: 0 };
  /** The part of the stream after the last complete event. */
  #tail = "";
  #ready = Promise.withResolvers<void>();
  #isReady = false;
  #conn: Deno.Conn | undefined;
  #done: Promise<void> | undefined;

  constructor(private readonly onT?: (sentAt: number, now: number) => void) {}

  /** Connects and resolves once the response started streaming. */
  async open(port: number, query: string): Promise<void> {
    this.#conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const req = `GET /subscribe?${query} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Accept: text/event-stream\r\nLast-Event-ID: now\r\n\r\n`;
    await this.#conn.write(enc.encode(req));
    this.#done = pump(this.#conn, (t) => this.#onText(t));
    await this.#ready.promise;
  }

  #onText(text: string): void {
    if (!this.#isReady && text.includes("retry:")) {
      this.#isReady = true;
      this.#ready.resolve();
    }
    const s = this.#tail + text;
    const now = performance.timeOrigin + performance.now();
    let from = 0;
    for (;;) {
      const end = s.indexOf("\n\n", from);
      if (end < 0) break;
      const m = s.indexOf("event: message", from);
      if (m >= 0 && m < end) {
        this.counter.count++;
        const t = this.onT ? s.indexOf('"t":', m) : -1;
        if (t >= 0 && t < end) this.onT?.(parseFloat(s.slice(t + 4, t + 32)), now);
      }
      from = end + 2;
    }
    this.#tail = s.slice(from);
  }

  async close(): Promise<void> {
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    await this.#done;
  }
}

/** Encodes a RESP command. */
function resp(args: string[]): Uint8Array {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${enc.encode(a).length}\r\n${a}\r\n`;
  return enc.encode(out);
}

/** A Redis connection for SUBSCRIBE (counting messages) or PUBLISH (request/response). */
export class RedisConn {
  readonly counter = new MarkerCounter("$7\r\nmessage\r\n");
  readonly #subscribed = new MarkerCounter("$9\r\nsubscribe\r\n");
  #conn!: Deno.Conn;
  readonly #waiters: Array<() => void> = [];
  readonly #lines = new MarkerCounter("\r\n");
  #answered = 0;
  #done: Promise<void> | undefined;

  /** Connects to `port` on loopback. */
  async connect(port: number): Promise<void> {
    this.#conn = await Deno.connect({ hostname: "127.0.0.1", port });
    this.#done = pump(this.#conn, (t) => {
      this.counter.push(t);
      this.#subscribed.push(t);
      // A publishing connection only ever gets integer replies (":n\r\n"): one CRLF each.
      this.#lines.push(t);
      while (this.#answered < this.#lines.count) {
        this.#answered++;
        this.#waiters.shift()?.();
      }
    });
  }

  /** Subscribes and resolves once Redis confirmed. */
  async subscribe(channel: string): Promise<void> {
    await this.#conn.write(resp(["SUBSCRIBE", channel]));
    while (this.#subscribed.count === 0) await sleep(5);
  }

  /** PUBLISH and wait for the reply. */
  async publish(channel: string, message: string): Promise<void> {
    const answered = new Promise<void>((r) => this.#waiters.push(r));
    await this.#conn.write(resp(["PUBLISH", channel, message]));
    await answered;
  }

  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#done;
  }
}
