/**
 * The relay client's subscription loop: one SSE connection at a time, events handed to the
 * caller in order (awaited, so a slow handler applies backpressure), reconnects with jittered
 * backoff and resumes from the last id the handler finished. A handler that throws is retried
 * with backoff; past its attempts the subscription stops at that event ("failed") rather than
 * move past it.
 * @module
 */
import type { Logger } from "../../log/mod.ts";
import { after, backoffDelay, onceUntilFailure, sleep, type Timer } from "../../async/mod.ts";
import type { RelayEvent } from "./client.ts";
import { type SseEvent, SseParser } from "../../http/mod.ts";
import type { ClientResponse } from "../../http/client/mod.ts";
import { lateImport } from "../../config/mod.ts";
import { errorMessage } from "../../errors/mod.ts";
import { redactToken } from "./redact.ts";

/** Options for a subscription. */
export interface SubscribeOptions {
  /** Resume after this id (`0` replays all retained, `now` skips history). */
  since?: string;
  /** Called when the relay cannot resume from our position; `oldest` is the first id replayed. */
  onReset?: (oldest: string | undefined) => void;
  /**
   * Connection changes. `connected` once per connection whose answer is an event stream
   * (`failures` 0); `disconnected` after every connection that failed or ended, with its own
   * reason (so the latest is the one reported) and `failures`, how many in a row did (1 after a
   * connection that delivered events; one that delivered none and ended before the maximum
   * backoff counts as a failure of the run, and the backoff grows); `failed` is final: the handler
   * threw on one event `handlerAttempts` times, and the subscription stopped there (its position
   * stays before that event).
   */
  onStatus?: (s: SubscriptionStatus, err?: string, failures?: number) => void;
  /** Tries of the handler on one event before the subscription stops (the client's default). */
  handlerAttempts?: number;
}

/** A subscription's connection state, as {@linkcode SubscribeOptions.onStatus} reports it. */
export type SubscriptionStatus = "connected" | "disconnected" | "failed";

/** A running subscription. */
export interface Subscription {
  /** The id of the last event the handler finished (or skipped as unparsable). */
  lastId(): string | undefined;
  /** Why the subscription stopped by itself (a handler that kept failing), else undefined. */
  failure(): string | undefined;
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
  /** Tries of the handler on one event before the subscription fails (at least 1). */
  handlerAttempts: number;
  onClose(): void;
}

/** The HTTP/1.1 client's module, imported by a computed specifier (core/config's `lateImport`). */
type HttpClient = typeof import("../../http/client/mod.ts");

/**
 * The HTTP/1.1 client, loaded with the first subscription's first connection: a service that
 * only publishes (the sidecar) never loads it. A failed load fails that connection, which is
 * reported (`onStatus`, the log) and retried with backoff like any other.
 */
const httpClient = onceUntilFailure(() =>
  lateImport<HttpClient>("../../http/client/mod.ts", import.meta.url)
);

/** The empty body of a subscription's GET. */
const NO_BODY = new Uint8Array(0);

/**
 * The start of a refusal's body, for the error (at most 200 bytes; what cannot be read, none),
 * without `token` in any shape it may be echoed in (cut short included).
 */
async function answerText(res: ClientResponse, token: string | undefined): Promise<string> {
  const body = res.body;
  let bytes: Uint8Array = new Uint8Array(0);
  if (body instanceof Uint8Array) bytes = body.subarray(0, 200);
  else if (body !== null) {
    const reader = body.getReader();
    // One read: the relay's refusals are small; the rest, if any, is cancelled.
    bytes = await reader.read().then((r) => r.value?.subarray(0, 200) ?? bytes, () => bytes);
    reader.cancel().catch(() => {});
  }
  const text = new TextDecoder().decode(bytes);
  res.release?.();
  return redactToken(text, token);
}

/** Drops an answer's body unread (what the pool lent for it goes back). */
function discard(res: ClientResponse): void {
  if (res.body instanceof ReadableStream) res.body.cancel().catch(() => {});
  res.release?.();
}

/** True for a `Content-Type` of `text/event-stream` (parameters allowed, any case). */
function isEventStream(contentType: string | null): boolean {
  return contentType !== null &&
    contentType.split(";")[0].trim().toLowerCase() === "text/event-stream";
}

/** A content type for a message: quoted, at most 64 characters, without `token`. */
function typeText(contentType: string | null, token: string | undefined): string {
  return contentType === null
    ? "no content-type"
    : JSON.stringify(redactToken(contentType.slice(0, 64), token));
}

/**
 * The events of an answer as a stream: the client reads a small body with a Content-Length
 * whole (a proxy in front of the relay may answer a finite stream so), a larger one streams.
 */
function streamOf(res: ClientResponse): ReadableStream<Uint8Array> {
  const body = res.body;
  if (body === null || body instanceof ReadableStream) return body ?? ReadableStream.from([]);
  const bytes = body.slice();
  res.release?.();
  return ReadableStream.from([bytes]);
}

/** A monotonic clock, in ms. */
const now = () => performance.now();

/** Why one connection ended. */
type Outcome = "overflow" | "ended";

class SubscriptionLoop implements Subscription {
  #lastId: string | undefined;
  readonly #closed = new AbortController();
  #status: SubscriptionStatus | undefined;
  #retryHint: number | undefined;
  /** The connection in progress moved the position (an event handled or skipped, a reset). */
  #progress = false;
  /** When the connection in progress reported `connected` (ms, monotonic). */
  #connectedAt: number | undefined;
  #failure: string | undefined;

  constructor(private readonly o: LoopOptions) {
    this.#lastId = o.opts.since;
  }

  lastId(): string | undefined {
    return this.#lastId;
  }

  failure(): string | undefined {
    return this.#failure;
  }

  close(): void {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    this.o.onClose();
  }

  /** Reports `s`; a `disconnected` every time (its reason and count are the latest). */
  #setStatus(s: SubscriptionStatus, err?: string, failures?: number): void {
    if (this.#status === "failed" || (this.#status === s && s !== "disconnected")) return;
    this.#status = s;
    try {
      this.o.opts.onStatus?.(s, err, failures);
    } catch (e) {
      this.o.log?.warn("onStatus handler failed", { err: e });
    }
  }

  async run(): Promise<void> {
    // Connections in a row that failed. One that delivered no event and ended before the
    // maximum backoff counts as failed too: a relay that answers but never streams (a wrong URL,
    // a proxy's page, a stream that ends or overflows at once) backs off like one that is down.
    let attempt = 0;
    let lastLogged: string | undefined;
    while (!this.#closed.signal.aborted) {
      let outcome: Outcome | undefined;
      this.#progress = false;
      this.#connectedAt = undefined;
      // Progress is a position that moved: a stream that hands back the event it resumed after
      // (or a reset to the same place) before `overflow` caught nothing up.
      const from = this.#lastId;
      const progressed = () => this.#progress && this.#lastId !== from;
      const healthy = () => {
        const at = this.#connectedAt;
        if (progressed() || (at !== undefined && now() - at >= this.o.backoffMaxMs)) {
          attempt = 0;
          lastLogged = undefined;
        }
      };
      try {
        outcome = await this.#connect();
        if (this.#closed.signal.aborted) break;
        healthy();
        const why = outcome === "overflow" ? "overflow" : "stream ended";
        this.#setStatus("disconnected", why, attempt + 1);
      } catch (err) {
        if (this.#closed.signal.aborted) break;
        healthy();
        // A refusal's body could echo the request (a proxy's error page): never the token.
        const token = this.o.token;
        const said = errorMessage(err);
        const msg = redactToken(said, token);
        // Logged when the reason changes, not once per retry of the same one.
        if (msg !== lastLogged) {
          this.o.log?.warn("relay subscription lost; reconnecting", {
            error: msg,
            failures: attempt + 1,
          });
          lastLogged = msg;
        }
        this.#setStatus("disconnected", msg, attempt + 1);
      }
      if (this.#closed.signal.aborted) break;
      // Overflow means "catch up now": reconnect at once (after a connection that delivered
      // events); anything else backs off with jitter.
      const min = Math.max(this.o.backoffMinMs, this.#retryHint ?? 0);
      const wait = outcome === "overflow" && progressed()
        ? 0
        : backoffDelay(attempt++, { baseMs: min, maxMs: this.o.backoffMaxMs });
      await sleep(wait, this.#closed.signal);
    }
  }

  /**
   * One connection; resolves when the stream ends, throws on failure. It goes through the
   * product's HTTP/1.1 client (core/http/client), not `fetch`: the relay's answer head has
   * `idleTimeoutMs` to come (the client's deadline on the head alone), then the stream, or a
   * refusal's body, has as long between reads (the idle timer, which cancels the request through
   * its signal); closing the subscription cancels it too, whichever it is waiting for. A 200
   * that is not `text/event-stream` fails the connection (unread).
   */
  async #connect(): Promise<Outcome> {
    const params = new URLSearchParams();
    for (const t of this.o.topics) params.append("topic", t);
    const url = new URL(`${this.o.url}/subscribe?${params}`);
    const headers: Array<[string, string]> = [["accept", "text/event-stream"]];
    if (this.o.token) headers.push(["authorization", `Bearer ${this.o.token}`]);
    if (this.#lastId) headers.push(["last-event-id", this.#lastId]);
    const conn = new AbortController();
    const onClose = () => conn.abort();
    this.#closed.signal.addEventListener("abort", onClose, { once: true });
    // On the wheel: the request or the read in flight holds the process open meanwhile.
    let idle: Timer | undefined;
    const armIdle = () => {
      idle?.cancel();
      idle = after(this.o.idleTimeoutMs, () => conn.abort(new Error("idle timeout")));
    };
    let client: ReturnType<HttpClient["createOriginClient"]> | undefined;
    try {
      client = (await httpClient()).createOriginClient(url.origin, { maxIdle: 0 });
      const res = await client.send({
        method: "GET",
        target: url.pathname + url.search,
        headers,
        body: NO_BODY,
        timeoutMs: this.o.idleTimeoutMs,
        deadline: "head",
        signal: conn.signal,
      });
      // From the head on (a refusal's body being read too): the head's deadline ended there.
      armIdle();
      if (res.status !== 200 || res.body === null) {
        throw new Error(`relay answered ${res.status}: ${await answerText(res, this.o.token)}`);
      }
      if (!isEventStream(res.contentType)) {
        discard(res);
        throw new Error(
          `relay answered 200 with ${
            typeText(res.contentType, this.o.token)
          }, not an event stream ` +
            "(is the relay URL right?)",
        );
      }
      this.#connectedAt = now();
      this.#setStatus("connected", undefined, 0);
      return await this.#read(streamOf(res), armIdle, conn.signal);
    } finally {
      idle?.cancel();
      this.#closed.signal.removeEventListener("abort", onClose);
      conn.abort();
      client?.close();
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
        if (done) {
          // Cancelled by the idle timer (not by closing): a dead connection, said as such.
          if (signal.aborted && !this.#closed.signal.aborted) throw signal.reason;
          return "ended";
        }
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
      this.#progress = true;
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
      this.#progress = true;
      return;
    }
    if (await this.#deliver(event)) {
      this.#lastId = e.id;
      this.#progress = true;
    }
  }

  /**
   * Hands one event to the handler, retrying a throw with backoff up to `handlerAttempts`; true
   * once it succeeded. Past the bound the subscription fails and stops; closed meanwhile, false.
   */
  async #deliver(event: RelayEvent): Promise<boolean> {
    const attempts = this.o.handlerAttempts;
    for (let attempt = 1;; attempt++) {
      try {
        await this.o.onEvent(event);
        return true;
      } catch (err) {
        if (this.#closed.signal.aborted) return false;
        const where = { err, topic: event.topic, id: event.id, attempt, of: attempts };
        if (attempt >= attempts) {
          this.#fail(event, err);
          return false;
        }
        this.o.log?.warn("relay event handler failed; retrying the same event", where);
        const wait = backoffDelay(attempt - 1, {
          baseMs: this.o.backoffMinMs,
          maxMs: this.o.backoffMaxMs,
        });
        await sleep(wait, this.#closed.signal);
        if (this.#closed.signal.aborted) return false;
      }
    }
  }

  /** Stops at `event`: its position stays before it, the reason goes to the log and onStatus. */
  #fail(event: RelayEvent, err: unknown): void {
    const reason = `handler failed ${this.o.handlerAttempts} times on event ${event.id} ` +
      `(${event.topic}): ${errorMessage(err)}; subscription stopped before it`;
    this.#failure = reason;
    this.o.log?.error("relay subscription stopped at an event its handler keeps failing on", {
      id: event.id,
      topic: event.topic,
      attempts: this.o.handlerAttempts,
      err,
    });
    this.#setStatus("failed", reason);
    this.close();
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
