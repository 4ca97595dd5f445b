/**
 * A bounded task queue run by at most `concurrency` workers at once. Offering to a full queue
 * fails instead of growing it; pollers wait for an idle worker before asking for more work.
 * @module
 */
import { settledWithin } from "../async/mod.ts";
import type { Logger } from "../log/mod.ts";

/** Options for {@linkcode TaskQueue}. */
interface TaskQueueOptions<T> {
  concurrency: number;
  maxQueued: number;
  run: (task: T) => Promise<void>;
  log: Logger;
}

/** The queue; see the module doc. */
export class TaskQueue<T> {
  #queued: T[] = [];
  #running = 0;
  #closed = false;
  #waiters: Array<() => void> = [];
  #idle: Array<() => void> = [];

  constructor(private readonly opts: TaskQueueOptions<T>) {}

  /** Tasks waiting to run. */
  get depth(): number {
    return this.#queued.length;
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /** True when a new task would start at once. */
  hasIdleWorker(): boolean {
    return !this.#closed && this.#running + this.#queued.length < this.opts.concurrency;
  }

  /** Adds a task; false when the queue is full or closed. */
  offer(task: T): boolean {
    if (this.#closed || this.#queued.length >= this.opts.maxQueued) return false;
    this.#queued.push(task);
    this.#pump();
    return true;
  }

  /** Resolves when a worker is idle (or the queue closes, or `signal` aborts). */
  waitForIdleWorker(signal?: AbortSignal): Promise<void> {
    if (this.hasIdleWorker() || this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.push(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** Stops accepting and waits up to `timeoutMs` for running tasks; true when all finished. */
  async close(timeoutMs: number): Promise<boolean> {
    this.#closed = true;
    this.#queued = [];
    this.#wake();
    if (this.#running === 0) return true;
    return await settledWithin(new Promise<void>((r) => this.#idle.push(r)), timeoutMs);
  }

  #wake(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w();
  }

  #pump(): void {
    while (!this.#closed && this.#running < this.opts.concurrency && this.#queued.length > 0) {
      const task = this.#queued.shift()!;
      this.#running++;
      this.opts.run(task).catch((err) => {
        this.opts.log.error("task failed unexpectedly", { err });
      }).finally(() => {
        this.#running--;
        if (this.#running === 0) {
          const idle = this.#idle;
          this.#idle = [];
          for (const f of idle) f();
        }
        this.#pump();
        if (this.hasIdleWorker()) this.#wake();
      });
    }
  }
}
