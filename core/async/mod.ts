/**
 * Time, shared by every module that waits: an abortable sleep, timers that leave the Node layer
 * unloaded (`after`, `every`), the jittered exponential backoff of every retry loop, a deadline on
 * a promise, a bounded wait for shutdowns, a timeout signal (each delay at most `MAX_DELAY_MS`,
 * about 24.8 days, where a web timer would fire after 1 ms), and the token bucket every rate
 * limit uses; the wait for a child process's output (`readUntilExit`), which a process the
 * child left running cannot hold open; and `onceUntilFailure`, for what is opened or loaded with
 * its first use.
 *
 * @example
 * ```ts
 * import { backoffDelay, deadline, sleep } from "./mod.ts";
 * for (let attempt = 0; attempt < 5; attempt++) {
 *   try {
 *     return await deadline(send(), 2_000);
 *   } catch {
 *     await sleep(backoffDelay(attempt, { baseMs: 100, maxMs: 5_000 }), signal);
 *   }
 * }
 * ```
 * @module
 */
export { backoffDelay, type BackoffPolicy } from "./backoff.ts";
export { OUTPUT_AFTER_EXIT_MS, readUntilExit } from "./child.ts";
export { deadline, type DeadlineOptions, isTimeout, settledWithin } from "./deadline.ts";
export { sleep, timeoutSignal } from "./delay.ts";
export { onceUntilFailure } from "./once.ts";
export {
  after,
  delayOf,
  every,
  MAX_DELAY_MS,
  MAX_TIMERS,
  pendingTimers,
  type Timer,
} from "./wheel.ts";
export { TokenBucket } from "./token_bucket.ts";
