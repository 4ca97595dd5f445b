/** Exponential backoff with jitter: the one retry schedule every client and agent uses. @module */

/** How retries spread out. */
export interface BackoffPolicy {
  /** The delay ceiling of the first retry (attempt 0), in ms. */
  baseMs: number;
  /** The largest delay, in ms (`Infinity` for none). */
  maxMs: number;
  /** Growth per attempt. @default 2 */
  factor?: number;
  /**
   * "equal" (half of the ceiling fixed, half random) so many clients retrying after the same
   * outage spread out yet never retry at once; "none" for a fixed schedule.
   * @default "equal"
   */
  jitter?: "equal" | "none";
}

/** Attempts past this grow no further (keeps `factor ** attempt` finite). */
const MAX_EXPONENT = 30;

/**
 * The delay before retry number `attempt` (0-based), in whole ms: the ceiling
 * `min(maxMs, baseMs * factor^attempt)`, jittered as the policy says.
 *
 * @param random source of randomness in [0, 1), injectable for tests
 * @example
 * ```ts
 * backoffDelay(0, { baseMs: 100, maxMs: 5_000 }); // 50..100
 * backoffDelay(3, { baseMs: 100, maxMs: 5_000 }); // 400..800
 * backoffDelay(2, { baseMs: 1_000, maxMs: Infinity, jitter: "none" }); // 4000
 * ```
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const factor = policy.factor ?? 2;
  const exponent = Math.min(Math.max(0, attempt), MAX_EXPONENT);
  const ceiling = Math.min(policy.maxMs, policy.baseMs * factor ** exponent);
  if (policy.jitter === "none") return Math.round(ceiling);
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}
