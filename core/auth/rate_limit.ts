/**
 * Per-caller token-bucket rate limit. Applied only after authentication, so the keys are
 * verified agent ids and an anonymous flood cannot exhaust a real caller's budget.
 * @module
 */

/** Default requests per minute per caller (RATE_LIMIT_PER_MIN upstream). */
export const DEFAULT_RATE_LIMIT_PER_MIN = 120;
/** Default bound on tracked callers; the least recently seen is forgotten beyond it. */
export const DEFAULT_RATE_LIMIT_MAX_KEYS = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

/** Result of {@linkcode RateLimiter.take}. */
export interface RateDecision {
  allowed: boolean;
  /** Seconds until one more request would be allowed (0 when allowed). */
  retryAfterSecs: number;
}

/** A token bucket per key: `perMinute` capacity, refilled continuously. */
export class RateLimiter {
  #buckets = new Map<string, Bucket>();

  constructor(
    readonly perMinute: number = DEFAULT_RATE_LIMIT_PER_MIN,
    readonly maxKeys: number = DEFAULT_RATE_LIMIT_MAX_KEYS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`. */
  take(key: string): RateDecision {
    const now = this.now();
    const rate = this.perMinute / 60_000;
    let b = this.#buckets.get(key);
    if (b) {
      this.#buckets.delete(key); // re-insert below keeps Map order = recency
      b.tokens = Math.min(this.perMinute, b.tokens + (now - b.at) * rate);
      b.at = now;
    } else {
      b = { tokens: this.perMinute, at: now };
      if (this.#buckets.size >= this.maxKeys) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
    }
    this.#buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true, retryAfterSecs: 0 };
    }
    return { allowed: false, retryAfterSecs: Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000)) };
  }
}
