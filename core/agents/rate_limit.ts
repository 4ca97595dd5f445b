/**
 * A token bucket: at most `burst` requests at once, refilled at `ratePerSec`. Callers wait for a
 * token instead of failing, so the agent slows down rather than hammering the orchestrator.
 * @module
 */
import { sleep } from "../async/mod.ts";

/** Token bucket rate limiter. */
export class TokenBucket {
  #tokens: number;
  #last: number;
  #waiting = 0;

  /**
   * @param ratePerSec refill rate
   * @param burst bucket size (also the starting fill)
   * @param now clock in ms, injectable for tests
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

  /** Callers currently waiting for a token. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Waits until a token is available and takes it; returns false if `signal` aborted first. */
  async take(signal?: AbortSignal): Promise<boolean> {
    this.#waiting++;
    try {
      while (!signal?.aborted) {
        if (this.tryTake()) return true;
        const needMs = ((1 - this.#tokens) / this.ratePerSec) * 1000;
        await sleep(Math.max(1, Math.ceil(needMs)), signal);
      }
      return false;
    } finally {
      this.#waiting--;
    }
  }
}
