/**
 * AuditClient: appends to an `iatp audit` ledger over HTTP, either awaited (returns the
 * receipt) or through a bounded non-blocking queue drained by a background sender. Every
 * request carries an Idempotency-Key, so a retry after a lost response never appends twice.
 * @module
 */
import { backoffDelay, sleep, timeoutSignal } from "../../async/mod.ts";
import { isoTimestamp, type Logger, silentLogger } from "../../log/mod.ts";
import { errorMessage, errorReason } from "../../errors/mod.ts";
import { readBody } from "../../http/mod.ts";
import type { Receipt } from "../proof/mod.ts";
import {
  DEFAULT_AUDIT_FLUSH_TIMEOUT_MS,
  DEFAULT_AUDIT_REQUEST_TIMEOUT_MS,
} from "./settings/mod.ts";

/** What `POST /audit` answers (201) and `AuditClient.append` returns. */
export interface AuditAppendResponse {
  transactionId: string;
  index: number;
  leaf_hash: string;
  receipt: Receipt;
}

/** What a client appends; the ledger adds index and ts. */
export interface AuditEntryInput {
  tx_id: string;
  event: string;
  actor: string;
  payload: Record<string, unknown>;
}

/** Options for {@linkcode AuditClient}. */
interface AuditClientOptions {
  url: string;
  /** Bearer credential with `audit:append`, when the ledger requires one. */
  token?: string;
  log?: Logger;
  /** Queue bound for `enqueue`; default {@linkcode DEFAULT_AUDIT_BUFFER}. */
  bufferSize?: number;
  /** Attempts per append before giving up; default {@linkcode DEFAULT_AUDIT_ATTEMPTS}. */
  attempts?: number;
  /** Per-request timeout; default {@linkcode DEFAULT_AUDIT_REQUEST_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** How long `close` waits for the queue; default {@linkcode DEFAULT_AUDIT_FLUSH_TIMEOUT_MS}. */
  flushTimeoutMs?: number;
}

/** Default bound of the non-blocking queue. */
const DEFAULT_AUDIT_BUFFER = 1000;
/** Largest answer to an append read (the receipt and its inclusion proof, or an error). */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** Default attempts per append (network errors, 5xx and 503 back-pressure are retried). */
const DEFAULT_AUDIT_ATTEMPTS = 5;
/** Retry schedule: jittered so many clients do not retry in step. */
const BACKOFF = { baseMs: 100, maxMs: 5_000 };

/** An append the ledger refused (4xx) or that failed after every retry. */
export class AuditClientError extends Error {
  override name = "AuditClientError";
  /**
   * @param status HTTP status, or 0 when no response arrived
   * @param options `cause`: the error behind it
   */
  constructor(message: string, readonly status: number, options?: ErrorOptions) {
    super(message, options);
  }
}

interface Queued {
  entry: AuditEntryInput;
  key: string;
}

/** A client for one ledger. See the module doc. */
export class AuditClient {
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #log: Logger;
  readonly #bound: number;
  readonly #attempts: number;
  readonly #timeoutMs: number;
  readonly #flushTimeoutMs: number;
  #queue: Queued[] = [];
  #sending: Promise<void> | undefined;
  #closed = false;
  /** Aborted by close: ends a backoff wait of the held queue. */
  readonly #stop = new AbortController();
  #refused: string | undefined;
  /** Entries dropped: the queue was full, the ledger refused them, or close came first. */
  dropped = 0;
  /** Why the queue is held (the ledger out of reach or failing), and since when. */
  #held: { reason: string; since: string } | undefined;

  constructor(opts: AuditClientOptions) {
    this.#url = opts.url.replace(/\/+$/, "");
    this.#headers = { "content-type": "application/json" };
    if (opts.token) this.#headers.authorization = `Bearer ${opts.token}`;
    this.#log = opts.log ?? silentLogger;
    this.#bound = opts.bufferSize ?? DEFAULT_AUDIT_BUFFER;
    this.#attempts = opts.attempts ?? DEFAULT_AUDIT_ATTEMPTS;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_AUDIT_REQUEST_TIMEOUT_MS;
    this.#flushTimeoutMs = opts.flushTimeoutMs ?? DEFAULT_AUDIT_FLUSH_TIMEOUT_MS;
  }

  /** Appends and waits for the durable receipt; retries transient failures, then throws. */
  async append(
    entry: AuditEntryInput,
    opts: { idempotencyKey?: string } = {},
  ): Promise<AuditAppendResponse> {
    const key = opts.idempotencyKey ?? crypto.randomUUID();
    let last: AuditClientError | undefined;
    for (let attempt = 0; attempt < this.#attempts; attempt++) {
      if (attempt > 0) await sleep(backoffDelay(attempt, BACKOFF), this.#stop.signal);
      try {
        return await this.#post(entry, key);
      } catch (err) {
        last = err instanceof AuditClientError ? err : new AuditClientError(String(err), 0);
        if (last.status >= 400 && last.status < 500 && last.status !== 429) throw last;
      }
    }
    throw last ?? new AuditClientError("append failed", 0);
  }

  /** Queues an append without waiting; false (and a counted drop) when the queue is full. */
  enqueue(entry: AuditEntryInput, opts: { idempotencyKey?: string } = {}): boolean {
    if (this.#closed || this.#queue.length >= this.#bound) {
      this.dropped++;
      return false;
    }
    this.#queue.push({ entry, key: opts.idempotencyKey ?? crypto.randomUUID() });
    this.#sending ??= this.#drain().finally(() => this.#sending = undefined);
    return true;
  }

  /** Entries waiting in the queue. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Why queued appends are held, while they are (the ledger out of reach or answering 5xx or
   * 429), with the time the hold began; undefined while appends go through.
   */
  get held(): { reason: string; since: string } | undefined {
    return this.#held;
  }

  /**
   * Why the ledger refused the latest queued append for good (it was dropped: a credential
   * without the actor's `audit:append` scope, say), until one is taken.
   */
  get refused(): string | undefined {
    return this.#refused;
  }

  /** Waits until the queue is empty (or `timeoutMs`, default the `flushTimeoutMs`, passes). */
  async flush(timeoutMs = this.#flushTimeoutMs): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((this.#sending || this.#queue.length > 0) && Date.now() < until) {
      await Promise.race([this.#sending, sleep(Math.min(50, until - Date.now()))]);
    }
  }

  /**
   * Flushes (for at most `timeoutMs`), then refuses further enqueues; appends still held then
   * (the ledger unreachable all along) are dropped, counted and logged.
   */
  async close(timeoutMs = this.#flushTimeoutMs): Promise<void> {
    await this.flush(timeoutMs);
    this.#closed = true;
    this.#stop.abort();
    await this.#sending;
    if (this.#queue.length > 0) {
      this.dropped += this.#queue.length;
      this.#log.error("audit appends not delivered before close", { count: this.#queue.length });
      this.#queue = [];
    }
  }

  /**
   * Sends the queue in order. An append the ledger refuses (4xx) is dropped and logged; one that
   * fails for a reason that can pass (unreachable, 5xx, 503 back-pressure, 429) stays at the head
   * and is retried with backoff until it is taken: the bounded queue holds the rest meanwhile,
   * and only what overflows it is dropped (counted). Stops holding once the client is closed.
   */
  async #drain(): Promise<void> {
    let held = 0;
    while (this.#queue.length > 0 && !this.#closed) {
      const item = this.#queue[0];
      try {
        await this.append(item.entry, { idempotencyKey: item.key });
        if (held > 0) this.#log.info("audit reachable again; sending the held appends");
        held = 0;
        this.#held = undefined;
        this.#refused = undefined;
      } catch (err) {
        const status = err instanceof AuditClientError ? err.status : 0;
        const passing = status === 0 || status === 429 || status >= 500;
        if (passing && !this.#closed) {
          this.#held = {
            reason: errorReason(err),
            since: this.#held?.since ?? isoTimestamp(Date.now()),
          };
          if (held++ === 0) {
            this.#log.warn("audit append failed; holding the queue and retrying", {
              tx_id: item.entry.tx_id,
              queued: this.#queue.length,
              err: String(err),
            });
          }
          await sleep(backoffDelay(held, BACKOFF), this.#stop.signal);
          continue;
        }
        this.dropped++;
        if (!this.#closed) this.#refused = errorReason(err);
        this.#log.warn("audit append dropped", { tx_id: item.entry.tx_id, err: String(err) });
      }
      this.#queue.shift();
    }
  }

  async #post(entry: AuditEntryInput, key: string): Promise<AuditAppendResponse> {
    let res: Response;
    try {
      res = await fetch(`${this.#url}/audit`, {
        method: "POST",
        headers: { ...this.#headers, "idempotency-key": key },
        body: JSON.stringify(entry),
        signal: AbortSignal.any([timeoutSignal(this.#timeoutMs), this.#stop.signal]),
      });
    } catch (err) {
      throw new AuditClientError(`audit unreachable: ${errorMessage(err)}`, 0, { cause: err });
    }
    let text: string;
    try {
      text = new TextDecoder().decode(await readBody(res, { limit: MAX_ANSWER_BYTES }));
    } catch (err) {
      throw new AuditClientError(`audit answer unreadable: ${errorMessage(err)}`, res.status, {
        cause: err,
      });
    }
    // 201 from a ledger under compat iatp, 200 under compat upstream; both answers carry
    // iatp's transactionId, index, leaf_hash and receipt.
    if (res.status !== 201 && res.status !== 200) {
      throw new AuditClientError(`audit answered ${res.status}: ${text.slice(0, 200)}`, res.status);
    }
    return JSON.parse(text) as AuditAppendResponse;
  }
}
