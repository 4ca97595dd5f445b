/**
 * One SSE subscriber's outgoing stream with a bounded queue (in bytes). Replay frames wait for
 * room (backpressure); live frames never wait: when the queue is full the stream ends with
 * `event: overflow` so one slow consumer can neither slow the others nor grow memory.
 *
 * Live frames offered during one event-loop turn are coalesced into one chunk per subscriber
 * and flushed on the next macrotask: under load one socket write carries many events, which is
 * what keeps fan-out to thousands of subscribers cheap.
 * @module
 */
import { encodeEvent } from "../http/mod.ts";

/** Default bytes queued per subscriber before it is cut off. */
export const DEFAULT_QUEUE_BYTES = 1024 * 1024;

/** Why a stream ended. */
export type EndReason = "client" | "overflow" | "shutdown" | "error";

/** Options for {@linkcode SseSubscriber}. */
interface SubscriberOptions {
  /** Bytes queued (replay backlog + live) before overflow. */
  queueBytes?: number;
  /** Called once when the stream ends, for any reason. */
  onEnd?: (reason: EndReason) => void;
}

/** Subscribers with coalesced frames waiting for the next flush. */
const dirty = new Set<SseSubscriber>();
let flushScheduled = false;

function scheduleFlush(sub: SseSubscriber): void {
  dirty.add(sub);
  if (flushScheduled) return;
  flushScheduled = true;
  setTimeout(() => {
    flushScheduled = false;
    const subs = [...dirty];
    dirty.clear();
    for (const s of subs) s.flush();
  }, 0);
}

/** Concatenates frames into one chunk (a single frame is passed through uncopied). */
export function concatFrames(frames: Uint8Array[], bytes: number): Uint8Array {
  if (frames.length === 1) return frames[0];
  const out = new Uint8Array(bytes);
  let off = 0;
  for (const f of frames) {
    out.set(f, off);
    off += f.length;
  }
  return out;
}

/** A subscriber's outgoing SSE stream; `body` is the Response body. */
export class SseSubscriber {
  readonly body: ReadableStream<Uint8Array>;
  readonly #queueBytes: number;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Live frames held back while history is still being replayed. */
  #pending: Uint8Array[] | undefined = [];
  /** Live frames coalesced for the next flush. */
  #batch: Uint8Array[] = [];
  /** Bytes in #pending or #batch. */
  #held = 0;
  #waiter: (() => void) | undefined;
  #ended = false;
  readonly #onEnd?: (reason: EndReason) => void;

  constructor(opts: SubscriberOptions = {}) {
    this.#queueBytes = opts.queueBytes ?? DEFAULT_QUEUE_BYTES;
    this.#onEnd = opts.onEnd;
    this.body = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
      pull: () => {
        this.#wake();
      },
      cancel: () => this.#finish("client"),
    }, new ByteLengthQueuingStrategy({ highWaterMark: this.#queueBytes }));
  }

  /** True once the stream ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Bytes of room left in the queue. */
  #room(): number {
    return (this.#controller.desiredSize ?? 0) - this.#held;
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** Writes a replay chunk, waiting for room. Returns false once the stream ended. */
  async write(chunk: Uint8Array): Promise<boolean> {
    while (!this.#ended && (this.#controller.desiredSize ?? 0) <= 0) {
      await new Promise<void>((r) => this.#waiter = r);
    }
    if (this.#ended) return false;
    this.#controller.enqueue(chunk);
    return true;
  }

  /** Offers a live frame without waiting; on a full queue ends the stream with overflow. */
  offer(frame: Uint8Array): boolean {
    if (this.#ended) return false;
    if (frame.length > this.#room()) return this.overflow(), false;
    this.#held += frame.length;
    if (this.#pending) {
      this.#pending.push(frame);
      return true;
    }
    if (this.#batch.push(frame) === 1) scheduleFlush(this);
    return true;
  }

  /** Offers a frame only when the stream is idle (heartbeats: a busy stream needs none). */
  offerIfIdle(frame: Uint8Array): void {
    if (!this.#ended && !this.#pending && this.#batch.length === 0 && this.#room() > 0) {
      this.#controller.enqueue(frame);
    }
  }

  /** Moves coalesced frames into the stream as one chunk. */
  flush(): void {
    if (this.#ended || this.#batch.length === 0) return;
    const chunk = concatFrames(this.#batch, this.#held);
    this.#batch = [];
    this.#held = 0;
    this.#controller.enqueue(chunk);
  }

  /** Ends replay: the live frames held back meanwhile go out next, in order. */
  goLive(): void {
    if (!this.#pending) return;
    this.#batch = this.#pending;
    this.#pending = undefined;
    if (this.#batch.length > 0) scheduleFlush(this);
  }

  /** Ends the stream with `event: overflow`. */
  overflow(): void {
    if (this.#ended) return;
    this.#controller.enqueue(encodeEvent({
      event: "overflow",
      data: JSON.stringify({ reason: "subscriber queue full", queue_bytes: this.#queueBytes }),
    }));
    this.end("overflow");
  }

  /** Ends the stream; frames already queued are still delivered. */
  end(reason: EndReason = "shutdown"): void {
    if (this.#ended) return;
    if (reason === "shutdown") this.flush();
    try {
      this.#controller.close();
    } catch { /* already closed by the reader */ }
    this.#finish(reason);
  }

  #finish(reason: EndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#pending = undefined;
    this.#batch = [];
    this.#held = 0;
    dirty.delete(this);
    this.#wake();
    this.#onEnd?.(reason);
  }
}
