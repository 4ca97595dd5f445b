/**
 * Per-caller token-bucket rate limit. Applied only after authentication, so the keys are
 * verified agent ids and an anonymous flood cannot exhaust a real caller's budget.
 * @module
 */
import { TokenBucket } from "../async/mod.ts";

import { DEFAULT_RATE_LIMIT_PER_MIN } from "./agent/mod.ts";

/** Default bound on tracked callers; the least recently seen is forgotten beyond it. */
const DEFAULT_RATE_LIMIT_MAX_KEYS = 10_000;

/** Result of {@linkcode RateLimiter.take}. */
export interface RateDecision {
  allowed: boolean;
  /** Seconds until one more request would be allowed (0 when allowed). */
  retryAfterSecs: number;
}

/** A {@linkcode TokenBucket} per key: `perMinute` capacity, refilled continuously. */
export class RateLimiter {
  #buckets = new Map<string, TokenBucket>();

  constructor(
    readonly perMinute: number = DEFAULT_RATE_LIMIT_PER_MIN,
    readonly maxKeys: number = DEFAULT_RATE_LIMIT_MAX_KEYS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`. */
  take(key: string): RateDecision {
    let b = this.#buckets.get(key);
    if (b) {
      this.#buckets.delete(key); // re-insert below keeps Map order = recency
    } else {
      b = new TokenBucket(this.perMinute / 60, this.perMinute, this.now);
      if (this.#buckets.size >= this.maxKeys) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
    }
    this.#buckets.set(key, b);
    if (b.tryTake()) return { allowed: true, retryAfterSecs: 0 };
    return { allowed: false, retryAfterSecs: Math.max(1, Math.ceil(b.msUntilToken() / 1000)) };
  }
}
