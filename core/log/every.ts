/**
 * A warning that repeats under a fault (every publish while an engine is away, every event a
 * peer refuses) written at most once per interval, with how many times it happened since its
 * last line, so a fault costs one line a minute instead of one per event.
 * @module
 */

/** Default interval between two lines of one kind. */
export const LOG_EVERY_MS = 60_000;

/** See the module doc. */
export class LogEvery {
  #lastMs = -Infinity;
  #quiet = 0;

  constructor(private readonly intervalMs = LOG_EVERY_MS) {}

  /**
   * Counts one occurrence; returns how many to report (this one and those not logged since the
   * last line) when a line is due, else undefined.
   *
   * @example
   * ```ts
   * const every = new LogEvery();
   * every.due(0); // 1
   * every.due(1); // undefined
   * every.due(60_000); // 2
   * ```
   */
  due(nowMs = Date.now()): number | undefined {
    if (nowMs - this.#lastMs < this.intervalMs) {
      this.#quiet++;
      return undefined;
    }
    const n = this.#quiet + 1;
    this.#quiet = 0;
    this.#lastMs = nowMs;
    return n;
  }
}
