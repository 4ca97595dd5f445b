/** An abortable sleep: the one pause every retry loop and poll uses. @module */

/**
 * Resolves after `ms` milliseconds, or at once (without throwing) when `signal` aborts, so a
 * loop can sleep between attempts and still stop promptly: check `signal.aborted` after it.
 *
 * @param ms how long to wait; 0 or less resolves at once
 * @param signal ends the wait early
 * @example
 * ```ts
 * const stop = new AbortController();
 * while (!stop.signal.aborted) {
 *   await poll();
 *   await sleep(1_000, stop.signal);
 * }
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || !(ms > 0)) return Promise.resolve();
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
