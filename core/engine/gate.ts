/**
 * The availability gate in front of a storage engine: while the engine is reachable, operations
 * run; the first connection failure marks it down, every operation then fails fast with
 * {@linkcode UnavailableError} (HTTP 503 + Retry-After) instead of piling onto a dead socket,
 * and one background probe reconnects with jittered backoff until the engine answers again.
 * @module
 */
import { backoffDelay, type BackoffPolicy, deadline, sleep } from "../async/mod.ts";
import { errorMessage, UnavailableError } from "../errors/mod.ts";
import { type Logger, silentLogger } from "../log/mod.ts";

/** Default reconnection schedule: 100 ms doubling to 5 s. */
export const DEFAULT_RECONNECT: BackoffPolicy = { baseMs: 100, maxMs: 5_000 };
/** Default `Retry-After` seconds told to clients while the engine is down. */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/** Options of an {@linkcode EngineGate}. */
export interface EngineGateOptions {
  /** What the engine is, for logs: "PostgreSQL postgres://app@db/iatp" (no password). */
  label: string;
  /**
   * What the engine is, for the answers clients get: "PostgreSQL" (no host, user or database).
   * @default "the storage engine"
   */
  kind?: string;
  /** One cheap round trip that succeeds only when the engine is usable again. */
  probe: () => Promise<void>;
  /** Whether an error means the engine is unreachable (as opposed to a bad request). */
  isOutage: (err: unknown) => boolean;
  /** @default DEFAULT_RECONNECT */
  reconnect?: BackoffPolicy;
  /** @default DEFAULT_RETRY_AFTER_SECONDS */
  retryAfterSeconds?: number;
  /**
   * Longest wait for one operation; past it the caller gets the deadline's TimeoutError (count
   * it in `isOutage` to answer 503 and probe). Unset: operations are not timed out here.
   */
  opTimeoutMs?: number;
  log?: Logger;
}

/** Tracks one engine's reachability; see the module doc. */
export class EngineGate {
  #down: unknown = undefined;
  #probing: Promise<void> | undefined;
  readonly #stop = new AbortController();
  readonly #reconnect: BackoffPolicy;
  readonly #retryAfter: number;
  readonly #log: Logger;

  /** @param opts see {@linkcode EngineGateOptions} */
  constructor(readonly opts: EngineGateOptions) {
    this.#reconnect = opts.reconnect ?? DEFAULT_RECONNECT;
    this.#retryAfter = opts.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
    this.#log = opts.log ?? silentLogger;
  }

  /** True while the engine is believed reachable. */
  get up(): boolean {
    return this.#down === undefined;
  }

  /**
   * Runs `op` when the engine is up. An outage error marks it down and starts reconnection.
   * @throws {UnavailableError} while the engine is down, or when `op` fails with an outage.
   * @throws whatever `op` throws that is not an outage.
   */
  async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.#down !== undefined) throw this.#unavailable(this.#down);
    const ms = this.opts.opTimeoutMs;
    try {
      return await (ms === undefined ? op() : deadline(op(), ms));
    } catch (err) {
      if (!this.opts.isOutage(err)) throw err;
      this.markDown(err);
      throw this.#unavailable(err);
    }
  }

  /** Marks the engine down (once) and starts the reconnection probe. */
  markDown(err: unknown): void {
    if (this.#down !== undefined || this.#stop.signal.aborted) return;
    this.#down = err;
    this.#log.warn("storage engine unreachable; reconnecting", {
      engine: this.opts.label,
      err: errorMessage(err),
    });
    this.#probing = this.#probeLoop();
  }

  async #probeLoop(): Promise<void> {
    for (let attempt = 0; !this.#stop.signal.aborted; attempt++) {
      try {
        await sleep(backoffDelay(attempt, this.#reconnect), this.#stop.signal);
        if (this.#stop.signal.aborted) return;
        await this.opts.probe();
        this.#down = undefined;
        this.#log.info("storage engine reachable again", {
          engine: this.opts.label,
          attempts: attempt + 1,
        });
        return;
      } catch (err) {
        if (this.#stop.signal.aborted) return;
        this.#down = err;
      }
    }
  }

  #unavailable(cause: unknown): UnavailableError {
    return new UnavailableError(
      `${this.opts.kind ?? "the storage engine"} is unreachable; retry later`,
      this.#retryAfter,
      {
        cause,
      },
    );
  }

  /** Stops reconnecting. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#probing;
  }
}
