/**
 * A token bucket: at most `burst` takes at once, refilled continuously at `ratePerSec`. The one
 * rate limiter: per-caller request budgets keep one per caller, and the agents' orchestrator
 * client waits on one instead of failing, so it slows down rather than hammering its peer.
 * @module
 */
import { sleep } from "./delay.ts";

/**
 * A token bucket that starts full.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(2, 3); // 2 tokens a second, bursts of 3
 * if (!bucket.tryTake()) console.log(`retry in ${bucket.msUntilToken()} ms`);
 * await bucket.take(signal); // or wait for one
 * ```
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  #waiting = 0;

  /**
   * @param ratePerSec refill rate, tokens per second
   * @param burst bucket size (also the starting fill)
   * @param now clock in ms, injectable for tests
   * @throws {RangeError} unless `ratePerSec > 0` and `burst >= 1`
   */
  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(ratePerSec > 0) || !(burst >= 1)) throw new RangeError("rate > 0 and burst >= 1");
    this.#tokens = burst;
    this.#last = now();
  }

  #refill(): void {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.ratePerSec);
    this.#last = t;
  }

  /** Takes a token now if one is available. */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    return false;
  }

  /** Milliseconds until a token is available (0 when one is). */
  msUntilToken(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : ((1 - this.#tokens) / this.ratePerSec) * 1000;
  }

  /** Callers currently waiting in {@linkcode take}. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Waits until a token is available and takes it; false when `signal` aborted first. */
  async take(signal?: AbortSignal): Promise<boolean> {
    this.#waiting++;
    try {
      while (!signal?.aborted) {
        if (this.tryTake()) return true;
        await sleep(Math.max(1, Math.ceil(this.msUntilToken())), signal);
      }
      return false;
    } finally {
      this.#waiting--;
    }
  }
}
