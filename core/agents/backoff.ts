/**
 * Jittered exponential backoff and an abortable sleep, shared by the orchestrator client's
 * retries and the sensor's plugin restarts.
 * @module
 */

/** Backoff policy: the first delay, the cap, and the growth factor. */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  factor?: number;
}

/**
 * Delay before retry number `attempt` (0-based): "equal jitter", half fixed and half random, so
 * many agents retrying after the same outage spread out but never retry at once.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const factor = policy.factor ?? 2;
  const ceiling = Math.min(policy.maxMs, policy.baseMs * factor ** Math.min(attempt, 30));
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
