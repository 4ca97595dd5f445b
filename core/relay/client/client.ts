/**
 * Relay client for the other services: non-blocking publish through a bounded buffer with a
 * background sender (jittered backoff), awaited publish, and resumable subscriptions that
 * reconnect with jitter and resume from the last id they handled.
 *
 * @example
 * ```ts
 * const relay = new RelayClient({ url: "http://127.0.0.1:8005" });
 * relay.publish("access.intent", { tx_id: "t1" });
 * const sub = relay.subscribe(["access.*"], (e) => console.log(e.topic, e.payload));
 * sub.close();
 * await relay.close();
 * ```
 * @module
 */
import { errorMessage } from "../../errors/mod.ts";
import { LogEvery, type Logger } from "../../log/mod.ts";
import { subscribeLoop, type SubscribeOptions, type Subscription } from "./subscribe.ts";
import {
  backoffDelay,
  type BackoffPolicy,
  delayOf,
  settledWithin,
  sleep,
} from "../../async/mod.ts";
import { isTopicName } from "../../topic/mod.ts";
import { type ComponentHealth, readBody } from "../../http/mod.ts";
import { redactToken } from "./redact.ts";
import { randomUuid } from "../../crypto/uuid/mod.ts";
import {
  DEFAULT_RELAY_FLUSH_TIMEOUT_MS,
  DEFAULT_RELAY_IDLE_TIMEOUT_MS,
  DEFAULT_RELAY_REQUEST_TIMEOUT_MS,
} from "./settings/mod.ts";

export type { SubscribeOptions, Subscription, SubscriptionStatus } from "./subscribe.ts";
export { relayEventOf } from "./subscribe.ts";

/** One event as delivered to subscribers. */
export interface RelayEvent {
  /** SSE id, resumable (`<epoch>-<seq>`). */
  id: string;
  event_id: string;
  seq: number;
  /** Publish time, ISO 8601 (the wire's `ts_iso`; the wire's `ts` is float seconds). */
  ts: string;
  topic: string;
  /**
   * Who published it, as the relay authenticated them (a credential's subject, or
   * `token:<digest prefix>` for a static token); absent when the relay runs open and the
   * publisher was anonymous. Set by the relay, never by the publisher's payload.
   */
  publisher?: string;
  payload: Record<string, unknown>;
}

/** Options for {@linkcode RelayClient}. */
interface RelayClientOptions {
  /** Relay base URL, e.g. `http://127.0.0.1:8005`. */
  url: string;
  /** Bearer token, when the relay requires one. */
  token?: string;
  log?: Logger;
  /** Events buffered by {@linkcode RelayClient.publish} (default 1000). */
  bufferSize?: number;
  /** Attempts made by publishNow before it throws (default 5). */
  maxAttempts?: number;
  /** Smallest and largest retry delay (defaults 100 ms and 5 s). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Deadline of one publish request (default {@linkcode DEFAULT_RELAY_REQUEST_TIMEOUT_MS}). */
  requestTimeoutMs?: number;
  /**
   * A subscription that receives nothing (not even a heartbeat) this long reconnects (default
   * {@linkcode DEFAULT_RELAY_IDLE_TIMEOUT_MS}).
   */
  idleTimeoutMs?: number;
  /**
   * How long {@linkcode RelayClient.close} waits for the buffered events to go out (default
   * {@linkcode DEFAULT_RELAY_FLUSH_TIMEOUT_MS}).
   */
  flushTimeoutMs?: number;
  /**
   * Tries of a subscription's handler on one event (default 5, with the backoff above between
   * them) before the subscription stops at that event and reports `failed`: an event is never
   * passed over because its handler threw.
   */
  handlerAttempts?: number;
}

/** Default tries of a subscription handler on one event. */
const DEFAULT_HANDLER_ATTEMPTS = 5;

/** Default publish buffer size. */
const DEFAULT_CLIENT_BUFFER = 1000;
/** Largest answer to a publish read (a few ids in JSON, or an error envelope). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** A failed relay request; `status` is set when the relay answered. */
export class RelayError extends Error {
  override name = "RelayError";
  /**
   * @param status the relay's answer, when it answered
   * @param options `cause`: the error behind it
   */
  constructor(message: string, readonly status?: number, options?: ErrorOptions) {
    super(message, options);
  }
  /**
   * True when retrying cannot help: a 4xx other than 408/429 (413 too: an event larger than the
   * relay's JetStream stream takes), or 507 (the relay holds `max_topics` topics: the event's new
   * topic stays refused until an operator raises the bound, while events to existing topics
   * behind it are still taken; or its stream is full and discards new events). A 503 (an engine
   * out of reach, a stream that is gone) is retried.
   */
  get permanent(): boolean {
    if (this.status === 507) return true;
    return this.status !== undefined && this.status >= 400 && this.status < 500 &&
      this.status !== 408 && this.status !== 429;
  }
}

interface Pending {
  topic: string;
  payload: Record<string, unknown>;
  /** The event's Idempotency-Key, sent with each of its attempts: the relay stores it once. */
  key: string;
  /** Called when the client closes with this event still buffered. */
  onUnsent?: () => void;
}

/** Counters of the background sender. */
export interface PublishStats {
  queued: number;
  sent: number;
  dropped: number;
  /** Why the oldest buffered event is not sent yet (the relay unreachable...), while it is not. */
  last_error?: string;
  /**
   * Why the relay refused the latest event for good (it was dropped: a credential without the
   * topic's scope, an event too large), until an event is taken.
   */
  last_refused?: string;
}

/** {@linkcode PublishStats} as a `/health` component (`reason` says why it is not ok). */
export type PublishHealth = ComponentHealth & PublishStats & { configured: true; reason?: string };

/** A relay client; see the module example. */
export class RelayClient {
  readonly #opts: Required<Omit<RelayClientOptions, "token" | "log">>;
  readonly #token?: string;
  readonly #log?: Logger;
  readonly #buffer: Pending[] = [];
  #sending = false;
  #idle = Promise.resolve();
  #idleResolve: (() => void) | undefined;
  readonly #closed = new AbortController();
  readonly #subs = new Set<Subscription>();
  readonly #stats = { sent: 0, dropped: 0 };
  /** Events the relay refused for good: one warning a minute, with the count since the last. */
  readonly #dropLog = new LogEvery();
  /** The background sender's last transient failure; cleared by the next send that works. */
  #sendError: string | undefined;
  /** Why the relay refused the latest event for good; cleared by the next send that works. */
  #refused: string | undefined;
  readonly #backoff: BackoffPolicy;

  constructor(opts: RelayClientOptions) {
    this.#opts = {
      url: opts.url.replace(/\/+$/, ""),
      bufferSize: opts.bufferSize ?? DEFAULT_CLIENT_BUFFER,
      maxAttempts: opts.maxAttempts ?? 5,
      backoffMinMs: opts.backoffMinMs ?? 100,
      backoffMaxMs: opts.backoffMaxMs ?? 5_000,
      requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULT_RELAY_REQUEST_TIMEOUT_MS,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_RELAY_IDLE_TIMEOUT_MS,
      flushTimeoutMs: opts.flushTimeoutMs ?? DEFAULT_RELAY_FLUSH_TIMEOUT_MS,
      handlerAttempts: Math.max(1, Math.floor(opts.handlerAttempts ?? DEFAULT_HANDLER_ATTEMPTS)),
    };
    this.#backoff = { baseMs: this.#opts.backoffMinMs, maxMs: this.#opts.backoffMaxMs };
    this.#token = opts.token;
    this.#log = opts.log;
  }

  /** Sender counters (for health pages and tests). */
  stats(): PublishStats {
    const failing = this.#sendError && this.#buffer.length > 0;
    return {
      queued: this.#buffer.length,
      ...this.#stats,
      ...(failing ? { last_error: this.#sendError } : {}),
      ...(this.#refused !== undefined ? { last_refused: this.#refused } : {}),
    };
  }

  /**
   * `/health`'s component for what this client publishes: not ok while buffered events wait on a
   * relay that does not take them (they are held, bounded), nor while the latest one was refused
   * for good and dropped (a credential without the topic's scope), with the reason, until the
   * relay takes one.
   */
  publishHealth(): PublishHealth {
    const stats = this.stats();
    const reason = stats.last_error ??
      (stats.last_refused === undefined
        ? undefined
        : `the latest event was refused and dropped: ${stats.last_refused}`);
    return { ...stats, ok: reason === undefined, configured: true, ...(reason ? { reason } : {}) };
  }

  /**
   * Non-blocking: enqueue into a bounded buffer; false (and a counted drop) when full. Never throws.
   * `onUnsent` is called (once) when {@linkcode close} ends with the event still buffered: the
   * relay did not take it within the flush, or its answer had not arrived (it may still take it).
   */
  publish(
    topic: string,
    payload: Record<string, unknown>,
    onUnsent?: () => void,
  ): boolean {
    if (
      this.#closed.signal.aborted || !isTopicName(topic) ||
      this.#buffer.length >= this.#opts.bufferSize
    ) {
      this.#stats.dropped++;
      return false;
    }
    this.#buffer.push({ topic, payload, key: randomUuid(), onUnsent });
    if (!this.#sending) this.#drain();
    return true;
  }

  /**
   * Awaited publish: retries transient failures with backoff, then throws a RelayError. Every
   * attempt carries the same Idempotency-Key, so an attempt whose answer was lost (the relay
   * stored it, but the answer came after `requestTimeoutMs`) is not stored twice.
   */
  async publishNow(
    topic: string,
    payload: Record<string, unknown>,
    opts: { idempotencyKey?: string } = {},
  ): Promise<{ event_id: string; seq: number; id: string }> {
    const key = opts.idempotencyKey ?? randomUuid();
    let attempt = 0;
    for (;;) {
      try {
        return await this.#post(topic, payload, key);
      } catch (err) {
        const e = err instanceof RelayError ? err : new RelayError(String(err));
        if (e.permanent || ++attempt >= this.#opts.maxAttempts || this.#closed.signal.aborted) {
          throw e;
        }
        await sleep(
          backoffDelay(attempt, this.#backoff),
          this.#closed.signal,
        );
      }
    }
  }

  async #post(topic: string, payload: Record<string, unknown>, key: string) {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "idempotency-key": key,
    };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), delayOf(this.#opts.requestTimeoutMs));
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.#opts.url}/publish`, {
        method: "POST",
        headers,
        body: JSON.stringify({ topic, payload }),
        signal: ac.signal,
      });
      text = new TextDecoder().decode(await readBody(res, { limit: MAX_ANSWER_BYTES }));
    } catch (err) {
      throw new RelayError(`relay unreachable: ${errorMessage(err)}`, undefined, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    // 201 from a relay under compat iatp, 200 under compat upstream (the IG&S relay's status).
    if (res.status !== 201 && res.status !== 200) {
      let msg = text.slice(0, 200);
      try {
        msg = String(JSON.parse(text).error ?? msg);
      } catch { /* not JSON: keep the text */ }
      // A refusal's body could echo the request (a proxy's error page): never the token.
      msg = redactToken(msg, this.#token);
      throw new RelayError(`relay answered ${res.status}: ${msg}`, res.status);
    }
    return JSON.parse(text) as { event_id: string; seq: number; id: string };
  }

  /** The background sender: in order, one at a time, retrying transient failures forever. */
  async #drain(): Promise<void> {
    this.#sending = true;
    this.#idle = new Promise((r) => this.#idleResolve = r);
    let attempt = 0;
    while (this.#buffer.length > 0 && !this.#closed.signal.aborted) {
      const item = this.#buffer[0];
      try {
        await this.#post(item.topic, item.payload, item.key);
        this.#buffer.shift();
        this.#stats.sent++;
        this.#sendError = undefined;
        this.#refused = undefined;
        attempt = 0;
      } catch (err) {
        const e = err as RelayError;
        if (e.permanent) {
          this.#buffer.shift();
          this.#stats.dropped++;
          this.#refused = e.message;
          const dropped = this.#dropLog.due();
          if (dropped !== undefined) {
            this.#log?.warn("relay rejected an event; dropped", {
              topic: item.topic,
              error: e.message,
              dropped,
            });
          }
          continue;
        }
        this.#sendError = e.message;
        if (attempt === 0) this.#log?.warn("relay publish failed; retrying", { error: e.message });
        await sleep(
          backoffDelay(attempt++, this.#backoff),
          this.#closed.signal,
        );
      }
    }
    this.#sending = false;
    this.#idleResolve?.();
  }

  /**
   * Resumable subscription: replays history after `since`, reconnects with jitter, resumes. An
   * event whose handler throws is retried (`handlerAttempts`); past that the subscription stops
   * before it and reports `failed` through `onStatus` and `failure()`.
   */
  subscribe(
    topics: string[],
    onEvent: (e: RelayEvent) => void | Promise<void>,
    opts: SubscribeOptions = {},
  ): Subscription {
    const sub = subscribeLoop({
      url: this.#opts.url,
      token: this.#token,
      log: this.#log,
      topics,
      onEvent,
      opts,
      backoffMinMs: this.#opts.backoffMinMs,
      backoffMaxMs: this.#opts.backoffMaxMs,
      idleTimeoutMs: this.#opts.idleTimeoutMs,
      handlerAttempts: Math.max(1, Math.floor(opts.handlerAttempts ?? this.#opts.handlerAttempts)),
      onClose: () => this.#subs.delete(sub),
    });
    this.#subs.add(sub);
    return { lastId: () => sub.lastId(), failure: () => sub.failure(), close: () => sub.close() };
  }

  /** Waits until the publish buffer is empty (or `timeoutMs`, default the `flushTimeoutMs`, passes). */
  async flush(timeoutMs = this.#opts.flushTimeoutMs): Promise<void> {
    if (!this.#sending) return;
    await settledWithin(this.#idle, timeoutMs);
    if (this.#buffer.length > 0) {
      this.#log?.warn("relay flush timed out", { queued: this.#buffer.length });
    }
  }

  /**
   * Flushes (bounded), then stops the sender and every subscription; the events still buffered
   * are told so (their `onUnsent`).
   */
  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    await this.flush();
    this.#closed.abort();
    for (const item of this.#buffer) {
      try {
        item.onUnsent?.();
      } catch (err) {
        this.#log?.warn("relay unsent-event callback failed", { err: errorMessage(err) });
      }
    }
    for (const s of [...this.#subs]) s.close();
  }
}
