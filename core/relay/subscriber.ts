/**
 * One SSE subscriber's outgoing stream with a bounded queue. Replay frames wait for room
 * (backpressure); live frames never wait: when the queue is full the stream ends with
 * `event: overflow` so one slow consumer can neither slow the others nor grow memory.
 * @module
 */
import { encodeEvent } from "./sse.ts";

/** Default frames queued per subscriber before it is cut off. */
export const DEFAULT_QUEUE_FRAMES = 1024;

/** Why a stream ended. */
export type EndReason = "client" | "overflow" | "shutdown" | "error";

/** Options for {@linkcode SseSubscriber}. */
export interface SubscriberOptions {
  /** Frames queued (replay backlog + live) before overflow. */
  queueFrames?: number;
  /** Called once when the stream ends, for any reason. */
  onEnd?: (reason: EndReason) => void;
}

/** A subscriber's outgoing SSE stream; `body` is the Response body. */
export class SseSubscriber {
  readonly body: ReadableStream<Uint8Array>;
  readonly #queueFrames: number;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Live frames held back while history is still being replayed. */
  #pending: Uint8Array[] | undefined = [];
  #waiter: (() => void) | undefined;
  #ended = false;
  readonly #onEnd?: (reason: EndReason) => void;

  constructor(opts: SubscriberOptions = {}) {
    this.#queueFrames = opts.queueFrames ?? DEFAULT_QUEUE_FRAMES;
    this.#onEnd = opts.onEnd;
    this.body = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
      pull: () => {
        this.#wake();
      },
      cancel: () => this.#finish("client"),
    }, { highWaterMark: this.#queueFrames });
  }

  /** True once the stream ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** True while the replay phase holds live frames back. */
  get replaying(): boolean {
    return this.#pending !== undefined;
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** Writes a replay frame, waiting for room. Returns false once the stream ended. */
  async write(frame: Uint8Array): Promise<boolean> {
    while (!this.#ended && (this.#controller.desiredSize ?? 0) <= 0) {
      await new Promise<void>((r) => this.#waiter = r);
    }
    if (this.#ended) return false;
    this.#controller.enqueue(frame);
    return true;
  }

  /** Offers a live frame without waiting; on a full queue ends the stream with overflow. */
  offer(frame: Uint8Array): boolean {
    if (this.#ended) return false;
    if (this.#pending) {
      if (this.#pending.length >= this.#queueFrames) return this.overflow(), false;
      this.#pending.push(frame);
      return true;
    }
    if ((this.#controller.desiredSize ?? 0) <= 0) return this.overflow(), false;
    this.#controller.enqueue(frame);
    return true;
  }

  /** Offers a frame only when there is room (heartbeats: a busy stream needs none). */
  offerIfIdle(frame: Uint8Array): void {
    if (!this.#ended && !this.#pending && (this.#controller.desiredSize ?? 0) > 0) {
      this.#controller.enqueue(frame);
    }
  }

  /** Ends replay: flushes the live frames held back meanwhile, in order, and goes live. */
  goLive(): void {
    const pending = this.#pending ?? [];
    this.#pending = undefined;
    for (const f of pending) if (!this.offer(f)) return;
  }

  /** Ends the stream with `event: overflow`. */
  overflow(): void {
    if (this.#ended) return;
    this.#controller.enqueue(encodeEvent({
      event: "overflow",
      data: JSON.stringify({ reason: "subscriber queue full", queue_frames: this.#queueFrames }),
    }));
    this.end("overflow");
  }

  /** Ends the stream (the queued frames are still delivered). */
  end(reason: EndReason = "shutdown"): void {
    if (this.#ended) return;
    try {
      this.#controller.close();
    } catch { /* already closed by the reader */ }
    this.#finish(reason);
  }

  #finish(reason: EndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#pending = undefined;
    this.#wake();
    this.#onEnd?.(reason);
  }
}
