/** Bounded waits: a promise with a deadline, and a wait that gives up quietly. @module */
import { delayOf } from "./wheel.ts";

/** Options for {@linkcode deadline}. */
export interface DeadlineOptions {
  /** Ends the wait early with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * `p`, or a rejection once `ms` milliseconds pass first. `p` itself is not cancelled: pass the
 * same signal to the work when it can stop.
 * A longer `ms` than `MAX_DELAY_MS` (about 24.8 days) waits that long, not 1 ms.
 *
 * @throws {DOMException & { name: "TimeoutError" }} when `ms` passes before `p` settles
 * @throws {AbortSignal["reason"]} when `opts.signal` aborts first
 * @example
 * ```ts
 * const answer = await deadline(fetchSomething(), 5_000);
 * ```
 */
export async function deadline<T>(
  p: Promise<T>,
  ms: number,
  opts: DeadlineOptions = {},
): Promise<T> {
  const { signal } = opts;
  if (signal?.aborted) throw signal.reason;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError(ms)), delayOf(ms));
    if (signal) {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([p, expired]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Whether `err` is the rejection of an expired {@linkcode deadline} (or of
 * `AbortSignal.timeout`).
 * @example
 * ```ts
 * try { await deadline(work, 100); } catch (err) { if (isTimeout(err)) retry(); }
 * ```
 */
export function isTimeout(err: unknown): boolean {
  return err instanceof DOMException && err.name === "TimeoutError";
}

function timeoutError(ms: number): DOMException {
  return new DOMException(`timed out after ${ms} ms`, "TimeoutError");
}

/**
 * Waits for `p` to settle (fulfil or reject) for at most `ms`; never throws. For shutdowns
 * that wait a bounded time for a queue or a drain, then go on regardless.
 * A longer `ms` than `MAX_DELAY_MS` waits that long.
 *
 * @returns true when `p` settled in time, false when time ran out first
 * @example
 * ```ts
 * if (!await settledWithin(queue.drained(), 5_000)) log.warn("queue not drained");
 * ```
 */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) =>
    timer = setTimeout(() => resolve(false), delayOf(ms))
  );
  try {
    return await Promise.race([p.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}
