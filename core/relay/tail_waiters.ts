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
  #waiters: Waiter[] = [];
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
        this.#waiters = this.#waiters.filter((x) => x !== w);
        resolve(false);
      }, delayOf(timeoutMs));
      this.#waiters.push(w);
    });
  }

  /** Settles the waiters the tail's position now satisfies (call after it moved). */
  wake(): void {
    if (this.#waiters.length === 0) return;
    const last = this.position();
    const still: Waiter[] = [];
    for (const w of this.#waiters) w.seq <= last ? w.done(true) : still.push(w);
    this.#waiters = still;
  }

  /** Settles every waiter false; later waits resolve false at once. */
  close(): void {
    this.#closed = true;
    for (const w of this.#waiters) w.done(false);
    this.#waiters = [];
  }
}
