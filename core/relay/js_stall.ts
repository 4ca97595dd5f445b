/**
 * A guard against a stalled stream tail. The JetStream client cannot always revive a consumer
 * by itself: when its connection moves to another server while the consumer lived on a server
 * that died, it stops watching heartbeats and asks after the dead consumer forever. The guard
 * notices a tail that applied nothing for two rounds while the stream has newer messages, and
 * has it made again.
 * @module
 */
import { delayOf } from "../async/mod.ts";

/** Options for {@linkcode TailStallGuard}. */
export interface TailStallOptions {
  /** How often progress is looked at. */
  intervalMs: number;
  /** True when the stream holds messages the tail has not applied (may throw: checked later). */
  behind(): Promise<boolean>;
  /** Called for a stalled tail. */
  onStall(): void;
}

/** The guard; see the module doc. */
export class TailStallGuard {
  #progress = 0;
  #seen = -1;
  #checking = false;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(private readonly o: TailStallOptions) {
    this.#timer = setInterval(() => void this.#check(), delayOf(o.intervalMs));
  }

  /** Counts one message the tail applied. */
  progressed(): void {
    this.#progress++;
  }

  async #check(): Promise<void> {
    if (this.#checking) return;
    const progress = this.#progress;
    if (progress !== this.#seen) {
      this.#seen = progress;
      return;
    }
    this.#checking = true;
    try {
      if (await this.o.behind() && this.#progress === progress) this.o.onStall();
    } catch {
      // The engine is out of reach: its client reconnects; the next round checks again.
    } finally {
      this.#checking = false;
    }
  }

  /** Stops watching. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
