/** An abortable sleep: the one pause every retry loop and poll uses. @module */
import { delayOf } from "./wheel.ts";

/**
 * Resolves after `ms` milliseconds, or at once (without throwing) when `signal` aborts, so a
 * loop can sleep between attempts and still stop promptly: check `signal.aborted` after it.
 *
 * @param ms how long to wait; 0 or less resolves at once, more than `MAX_DELAY_MS` (about 24.8
 *   days, Infinity too) waits that long
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
  // A timeout signal, not setTimeout: Deno's global setTimeout is Node's, and the first one
  // loads its Node layer (3-4 MB of an idle service). The signal's timer holds the process open
  // while it has a listener; an abort removes the listener, and the timer, left to run out,
  // no longer holds anything.
  const timer = AbortSignal.timeout(Math.ceil(delayOf(ms)));
  return new Promise((resolve) => {
    const done = () => {
      timer.removeEventListener("abort", done);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    timer.addEventListener("abort", done, { once: true });
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * `AbortSignal.timeout(ms)` with the delay clamped as timers here clamp it: at most
 * `MAX_DELAY_MS` (about 24.8 days), which then waits that long (the global one aborts a longer
 * or infinite delay after 1 ms); 0 for a negative or NaN one.
 * @example
 * ```ts
 * await fetch(url, { signal: timeoutSignal(config.timeout) });
 * ```
 */
export function timeoutSignal(ms: number): AbortSignal {
  return AbortSignal.timeout(Math.ceil(delayOf(ms)));
}
