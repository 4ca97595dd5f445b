/**
 * The relay client's subscription loop: one SSE connection at a time, events handed to the
 * caller in order (awaited, so a slow handler applies backpressure), reconnects with jittered
 * backoff and resumes from the last id the handler finished.
 * @module
 */
import type { Logger } from "../../log/mod.ts";
import { after, backoffDelay, sleep, type Timer } from "../../async/mod.ts";
import type { RelayEvent } from "./client.ts";
import { readBodyPrefix, type SseEvent, SseParser } from "../../http/mod.ts";
import { errorMessage } from "../../errors/mod.ts";

/** Options for a subscription. */
export interface SubscribeOptions {
  /** Resume after this id (`0` replays all retained, `now` skips history). */
  since?: string;
  /** Called when the relay cannot resume from our position; `oldest` is the first id replayed. */
  onReset?: (oldest: string | undefined) => void;
  onStatus?: (s: "connected" | "disconnected", err?: string) => void;
}

/** A running subscription. */
export interface Subscription {
  lastId(): string | undefined;
  close(): void;
}

/** Everything {@linkcode subscribeLoop} needs. */
export interface LoopOptions {
  url: string;
  token?: string;
  log?: Logger;
  topics: string[];
  onEvent: (e: RelayEvent) => void | Promise<void>;
  opts: SubscribeOptions;
  backoffMinMs: number;
  backoffMaxMs: number;
  idleTimeoutMs: number;
  onClose(): void;
}

/** Why one connection ended. */
type Outcome = "overflow" | "ended";

class SubscriptionLoop implements Subscription {
  #lastId: string | undefined;
  readonly #closed = new AbortController();
  #status: "connected" | "disconnected" | undefined;
  #retryHint: number | undefined;

  constructor(private readonly o: LoopOptions) {
    this.#lastId = o.opts.since;
  }

  lastId(): string | undefined {
    return this.#lastId;
  }

  close(): void {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    this.o.onClose();
  }

  #setStatus(s: "connected" | "disconnected", err?: string): void {
    if (this.#status === s) return;
    this.#status = s;
    try {
      this.o.opts.onStatus?.(s, err);
    } catch (e) {
      this.o.log?.warn("onStatus handler failed", { err: e });
    }
  }

  async run(): Promise<void> {
    let attempt = 0;
    while (!this.#closed.signal.aborted) {
      let outcome: Outcome | undefined;
      try {
        outcome = await this.#connect(() => attempt = 0);
        this.#setStatus("disconnected", outcome === "overflow" ? "overflow" : "stream ended");
      } catch (err) {
        if (this.#closed.signal.aborted) break;
        const msg = errorMessage(err);
        if (this.#status !== "disconnected") {
          this.o.log?.warn("relay subscription lost; reconnecting", { error: msg });
        }
        this.#setStatus("disconnected", msg);
      }
      if (this.#closed.signal.aborted) break;
      // Overflow means "catch up now": reconnect at once; anything else backs off with jitter.
      const min = Math.max(this.o.backoffMinMs, this.#retryHint ?? 0);
      const wait = outcome === "overflow"
        ? 0
        : backoffDelay(attempt++, { baseMs: min, maxMs: this.o.backoffMaxMs });
      await sleep(wait, this.#closed.signal);
    }
  }

  /** One connection; resolves when the stream ends, throws on failure. */
  async #connect(onHealthy: () => void): Promise<Outcome> {
    const params = new URLSearchParams();
    for (const t of this.o.topics) params.append("topic", t);
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (this.o.token) headers.authorization = `Bearer ${this.o.token}`;
    if (this.#lastId) headers["last-event-id"] = this.#lastId;
    const conn = new AbortController();
    const onClose = () => conn.abort();
    this.#closed.signal.addEventListener("abort", onClose, { once: true });
    // On the wheel: the request or the read in flight holds the process open meanwhile.
    let idle: Timer | undefined;
    const armIdle = () => {
      idle?.cancel();
      idle = after(this.o.idleTimeoutMs, () => conn.abort(new Error("idle timeout")));
    };
    try {
      armIdle();
      const res = await fetch(`${this.o.url}/subscribe?${params}`, {
        headers,
        signal: conn.signal,
      });
      if (res.status !== 200 || !res.body) {
        const answer = await readBodyPrefix(res, 200).catch(() => ({ bytes: new Uint8Array(0) }));
        const text = new TextDecoder().decode(answer.bytes);
        throw new Error(`relay answered ${res.status}: ${text}`);
      }
      this.#setStatus("connected");
      onHealthy();
      return await this.#read(res.body, armIdle, conn.signal);
    } finally {
      idle?.cancel();
      this.#closed.signal.removeEventListener("abort", onClose);
      conn.abort();
    }
  }

  async #read(
    body: ReadableStream<Uint8Array>,
    armIdle: () => void,
    signal: AbortSignal,
  ): Promise<Outcome> {
    const queue: SseEvent[] = [];
    const parser = new SseParser((e) => queue.push(e));
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    // An abort alone does not always wake a pending read of a piped body: cancel it too.
    const cancel = () => reader.cancel().catch(() => {});
    signal.addEventListener("abort", cancel, { once: true });
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return "ended";
        armIdle();
        parser.push(value);
        if (parser.retryMs !== undefined) this.#retryHint = parser.retryMs;
        while (queue.length > 0) {
          const e = queue.shift()!;
          if (e.event === "overflow") return "overflow";
          await this.#handle(e);
          if (this.#closed.signal.aborted) return "ended";
        }
      }
    } finally {
      signal.removeEventListener("abort", cancel);
      cancel();
    }
  }

  async #handle(e: SseEvent): Promise<void> {
    if (e.event === "reset") {
      let info: { oldest?: string | null; resume?: string } = {};
      try {
        info = JSON.parse(e.data);
      } catch { /* a reset without details still resets */ }
      this.#lastId = info.resume ?? undefined;
      try {
        this.o.opts.onReset?.(info.oldest ?? undefined);
      } catch (err) {
        this.o.log?.warn("onReset handler failed", { err });
      }
      return;
    }
    if (e.event !== "message" || e.id === undefined) return;
    let event: RelayEvent;
    try {
      event = relayEventOf(e.id, e.data);
    } catch {
      this.o.log?.warn("relay sent an unparsable event; skipped", { id: e.id });
      this.#lastId = e.id;
      return;
    }
    try {
      await this.o.onEvent(event);
    } catch (err) {
      this.o.log?.warn("relay event handler failed", { err, topic: event.topic, id: e.id });
    }
    this.#lastId = e.id;
  }
}

/**
 * The event a subscriber gets from one SSE frame: `id` is the frame's resumable id (the data's
 * own `id`, the event UUID, is `event_id`), `ts` is ISO 8601 whichever form the relay sent
 * (`ts_iso`, float seconds, or an older relay's ISO `ts`). Other members (`publisher`) pass.
 * @throws {SyntaxError} when `data` is not JSON.
 * @example
 * ```ts
 * relayEventOf("ep-1", '{"id":"u1","ts":1.5,"topic":"t","payload":{}}').ts;
 * // "1970-01-01T00:00:01.500Z"
 * ```
 */
export function relayEventOf(sseId: string, data: string): RelayEvent {
  const raw: Record<string, unknown> = JSON.parse(data) ?? {};
  const ts = typeof raw.ts_iso === "string"
    ? raw.ts_iso
    : typeof raw.ts === "number" && Number.isFinite(raw.ts)
    ? new Date(raw.ts * 1000).toISOString()
    : String(raw.ts ?? "");
  const { ts_iso: _iso, ...rest } = raw;
  const payload = raw.payload;
  return {
    ...rest,
    id: sseId,
    event_id: typeof raw.event_id === "string" ? raw.event_id : String(raw.id ?? ""),
    seq: typeof raw.seq === "number" ? raw.seq : 0,
    ts,
    topic: String(raw.topic ?? ""),
    payload: typeof payload === "object" && payload !== null && !Array.isArray(payload)
      ? payload as Record<string, unknown>
      : {},
  };
}

/** Starts a subscription loop in the background. */
export function subscribeLoop(o: LoopOptions): Subscription {
  const loop = new SubscriptionLoop(o);
  loop.run().catch((err) => o.log?.error("relay subscription loop crashed", { err }));
  return loop;
}
