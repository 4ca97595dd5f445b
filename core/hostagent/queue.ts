/**
 * The compose-agent's local command queue in the dashboard's long-poll format (docs/protocols.md):
 * a control plane on the host enqueues commands, a worker long-polls `wait` and posts results to
 * `report`. Both the queue and the report history are bounded.
 * @module
 */
import { delayOf } from "../async/mod.ts";
import type { AgentCommand } from "../docker/mod.ts";
import type { CommandReport } from "../docker/executor/mod.ts";

export type { CommandReport };

/** A bounded FIFO of commands with long-poll waiters, plus the last reports. */
export class CommandQueue {
  #items: AgentCommand[] = [];
  #waiters: Array<(c: AgentCommand | undefined) => void> = [];
  #reports: CommandReport[] = [];

  constructor(readonly maxItems: number, readonly maxReports: number) {}

  /** Adds a command; false when the queue is full. A waiting poller gets it at once. */
  push(cmd: AgentCommand): boolean {
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter(cmd);
      return true;
    }
    if (this.#items.length >= this.maxItems) return false;
    this.#items.push(cmd);
    return true;
  }

  /** The next command, waiting up to `timeoutMs`; undefined on timeout or abort. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<AgentCommand | undefined> {
    const next = this.#items.shift();
    if (next) return Promise.resolve(next);
    return new Promise((resolve) => {
      const done = (c: AgentCommand | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(c);
      };
      const drop = () => {
        const i = this.#waiters.indexOf(done);
        if (i >= 0) this.#waiters.splice(i, 1);
      };
      const onAbort = () => {
        drop();
        done(undefined);
      };
      const timer = setTimeout(onAbort, delayOf(timeoutMs));
      signal?.addEventListener("abort", onAbort);
      this.#waiters.push(done);
    });
  }

  /** Wakes every poller with "nothing" (shutdown). */
  releaseAll(): void {
    for (const w of this.#waiters.splice(0)) w(undefined);
  }

  /** Stores a report, dropping the oldest beyond the bound. */
  report(r: CommandReport): void {
    this.#reports.push(r);
    if (this.#reports.length > this.maxReports) this.#reports.shift();
  }

  /** The stored reports, oldest first. */
  reports(): CommandReport[] {
    return [...this.#reports];
  }

  /** Commands waiting. */
  get length(): number {
    return this.#items.length;
  }
}
