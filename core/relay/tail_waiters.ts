/**
 * Resumes waiting for a replica's tail to reach a position: settled true when it does, false at
 * their timeout or when the tail closes. Shared by the stores that learn of events from a tail
 * (a JetStream replica, a worker isolate).
 * @module
 */
import { delayOf } from "../async/mod.ts";

/** A resume waiting for the tail. */
interface Waiter {
  seq: number;
  done: (ok: boolean) => void;
}

/** See the module doc. */
export class TailWaiters {
  /** In insertion order; a timed-out waiter leaves in O(1), not by filtering them all. */
  readonly #waiters = new Set<Waiter>();
  #closed = false;

  constructor(private readonly position: () => number) {}

  /** Resolves true once the tail reached `seq`, false after `timeoutMs` or on close. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.position() >= seq) return Promise.resolve(true);
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = {
        seq,
        done: (ok: boolean) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        resolve(false);
      }, delayOf(timeoutMs));
      this.#waiters.add(w);
    });
  }

  /** Settles the waiters the tail's position now satisfies (call after it moved). */
  wake(): void {
    if (this.#waiters.size === 0) return;
    const last = this.position();
    for (const w of this.#waiters) {
      if (w.seq <= last) {
        this.#waiters.delete(w);
        w.done(true);
      }
    }
  }

  /** Settles every waiter false; later waits resolve false at once. */
  close(): void {
    this.#closed = true;
    for (const w of this.#waiters) w.done(false);
    this.#waiters.clear();
  }
}
