/**
 * One SSE subscriber's outgoing stream, pushed straight onto its connection's socket (see
 * `pushStream`), with a bounded queue in bytes: the frames it holds plus those its socket has
 * not taken yet. Replay frames wait for room (backpressure); live frames never wait: when the
 * queue is full the stream ends with `event: overflow`, so one slow consumer can neither slow
 * the others nor grow memory.
 *
 * Live frames are coalesced per subscriber and written in flush rounds (see rounds.ts): the next
 * round starts once the last one's writes were taken, so under load one write carries every
 * event published meanwhile.
 * @module
 */
import {
  concatBytes,
  encodeEvent,
  type PushSink,
  type PushSource,
  pushStream,
} from "../../http/mod.ts";
import { FlushRounds, type RoundJoiner, type RoundMember } from "./rounds.ts";
import type { HeldBytes, HeldMember } from "./budget.ts";

/** Default bytes queued per subscriber before it is cut off. */
export const DEFAULT_QUEUE_BYTES = 1024 * 1024;

/**
 * Default time a subscriber cut off with `event: overflow` has for its socket to take the write
 * in flight and the overflow event before its connection is closed (ms).
 */
export const DEFAULT_OVERFLOW_WAIT_MS = 5_000;

/** Why a stream ended. */
export type EndReason = "client" | "overflow" | "shutdown" | "error" | "lapsed";

/** Options for {@linkcode SseSubscriber}. */
interface SubscriberOptions {
  /** Bytes queued (replay backlog + live + unwritten) before overflow. */
  queueBytes?: number;
  /** Called once when the stream ends, for any reason. */
  onEnd?: (reason: EndReason) => void;
  /** The flush rounds it is written in (default: rounds shared by this isolate). */
  rounds?: FlushRounds;
  /** The bound on what all the isolate's subscribers hold together (default: none). */
  held?: HeldBytes;
  /**
   * Once cut off with overflow, how long its socket has to take the write in flight and the
   * overflow event before the connection is closed (ms).
   */
  overflowWaitMs?: number;
}

/** Rounds of the subscribers given none (every subscriber shares its isolate's CPU). */
let sharedRounds: FlushRounds | undefined;

/** A subscriber's outgoing SSE stream; `body()` is the Response body. */
export class SseSubscriber implements PushSource, RoundMember, HeldMember {
  readonly #queueBytes: number;
  /** Where frames go once the answer's head is on its way. */
  #sink: PushSink | undefined;
  /** Frames written before that (the retry hint, the start of a replay). */
  #early: Uint8Array[] | undefined;
  /** Live frames held back while history is still being replayed. */
  #pending: Uint8Array[] | undefined = [];
  /**
   * Live frames coalesced for the next flush: one frame, or an array once a second arrives (a
   * fan-out of one event per round allocates nothing per subscriber).
   */
  #batch: Uint8Array | Uint8Array[] | undefined;
  /** Bytes in #early, #pending and #batch. */
  #held = 0;
  #waiter: (() => void) | undefined;
  #ended = false;
  readonly #onEnd?: (reason: EndReason) => void;
  readonly #rounds: FlushRounds;
  readonly #heldBytes: HeldBytes | undefined;
  /** What it holds as last told to #heldBytes (frames held and bytes its socket has not taken). */
  #charged = 0;
  /** Bytes its socket still held when it ended, until the socket lets them go. */
  #closing = 0;
  readonly #overflowWaitMs: number;

  constructor(opts: SubscriberOptions = {}) {
    this.#overflowWaitMs = opts.overflowWaitMs ?? DEFAULT_OVERFLOW_WAIT_MS;
    this.#queueBytes = opts.queueBytes ?? DEFAULT_QUEUE_BYTES;
    this.#onEnd = opts.onEnd;
    this.#rounds = opts.rounds ?? (sharedRounds ??= new FlushRounds());
    this.#heldBytes = opts.held;
  }

  /** Bytes it holds: frames not yet written and what its socket has not taken yet. */
  get charged(): number {
    return this.#charged;
  }

  /** Tells the isolate's bound what it holds now. */
  #account(): void {
    const h = this.#heldBytes;
    if (!h || this.#ended) return;
    const now = this.#held + (this.#sink?.backlog ?? 0);
    if (now === this.#charged) return;
    const was = this.#charged;
    this.#charged = now;
    h.change(this, was, now);
  }

  /** The response body (pushed onto the socket by the HTTP edge). Call once. */
  body(): ReadableStream<Uint8Array> {
    return pushStream(this);
  }

  /** The flush rounds it is written in. */
  get rounds(): FlushRounds {
    return this.#rounds;
  }

  /** Its queue bound in bytes. */
  get queueBytes(): number {
    return this.#queueBytes;
  }

  /** Bytes of live frames waiting for its next flush round (none while it replays). */
  get batched(): number {
    return this.#pending || this.#batch === undefined ? 0 : this.#held;
  }

  /** True once the stream ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Bytes of room left in the queue. */
  #room(): number {
    return this.#queueBytes - this.#held - (this.#sink?.backlog ?? 0);
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** Sends `chunk` now, or keeps it until the head goes out. */
  #send(chunk: Uint8Array): void {
    if (this.#sink) this.#sink.write(chunk);
    else {
      (this.#early ??= []).push(chunk);
      this.#held += chunk.length;
    }
    this.#account();
  }

  open(sink: PushSink): void {
    if (this.#sink) return void sink.end();
    this.#sink = sink;
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const chunk of early) {
      this.#held -= chunk.length;
      sink.write(chunk);
    }
    if (this.#ended) return sink.end();
    if (this.#batch !== undefined) this.#rounds.mark(this);
    this.#account();
    this.#wake();
  }

  drained(): void {
    this.#rounds.settled(this);
    this.#account();
    this.#wake();
  }

  /** Its socket is full (the peer reads slowly): the round does not wait for this write. */
  partial(): void {
    this.#rounds.settled(this);
    this.#account();
  }

  /** Its socket let go of everything after the stream ended (written, or the connection closed). */
  released(): void {
    const bytes = this.#closing;
    this.#closing = 0;
    if (bytes > 0) this.#heldBytes?.released(bytes);
  }

  closed(reason: "client" | "error"): void {
    this.#finish(reason);
  }

  /**
   * Writes a replay chunk once the queue has room for all of it (or holds nothing: a chunk
   * larger than the queue goes out alone). Returns false once the stream ended.
   */
  async write(chunk: Uint8Array): Promise<boolean> {
    while (!this.#ended && this.#room() < chunk.length && this.#room() < this.#queueBytes) {
      await new Promise<void>((r) => this.#waiter = r);
    }
    if (this.#ended) return false;
    this.#send(chunk);
    return true;
  }

  /** Offers a live frame without waiting; on a full queue ends the stream with overflow. */
  offer(frame: Uint8Array): boolean {
    if (this.#ended) return false;
    if (frame.length > this.#room()) return this.overflow(), false;
    this.#held += frame.length;
    if (this.#pending) {
      this.#pending.push(frame);
      this.#account();
      return true;
    }
    const batch = this.#batch;
    if (batch === undefined) {
      this.#batch = frame;
      this.#rounds.mark(this);
    } else if (batch instanceof Uint8Array) this.#batch = [batch, frame];
    else batch.push(frame);
    this.#account();
    return true;
  }

  /**
   * Takes a round's frames of its one topic, `chunk` being them joined and shared by every
   * subscriber of that topic: written as it is when nothing of its own waits (registered with
   * `rounds` as a write of the round under way), else held after its own frames. On a full queue
   * the stream ends with overflow, as {@linkcode offer}. Returns whether it wrote.
   */
  takeShared(chunk: Uint8Array, frames: readonly Uint8Array[], bytes: number): boolean {
    const sink = this.#sink;
    if (this.#ended) return false;
    if (this.#pending || this.#batch !== undefined || !sink) {
      for (const f of frames) if (!this.offer(f)) break;
      return false;
    }
    if (bytes > this.#room()) return this.overflow(), false;
    // Queued behind an earlier write its socket has not taken: a straggler, not waited for.
    const behind = sink.backlog > 0;
    sink.write(chunk);
    this.#account();
    return !behind;
  }

  /** Offers a frame only when the stream is idle (heartbeats: a busy stream needs none). */
  offerIfIdle(frame: Uint8Array): void {
    const sink = this.#sink;
    if (this.#ended || !sink || this.#pending || this.#batch !== undefined) return;
    if (sink.backlog === 0) sink.write(frame);
  }

  /**
   * Writes the coalesced frames as one chunk (`joiner` shares it with alike subscribers);
   * returns whether anything was written.
   */
  flush(joiner?: RoundJoiner): boolean {
    const batch = this.#batch;
    if (this.#ended || batch === undefined || !this.#sink) return false;
    const bytes = this.#held;
    this.#held = 0;
    this.#batch = undefined;
    // Queued behind an earlier write its socket has not taken (a reader that stalled): a
    // straggler, the round does not wait for it (however many there are).
    const behind = this.#sink.backlog > 0;
    if (batch instanceof Uint8Array) this.#sink.write(batch);
    else this.#sink.write(joiner ? joiner.join(batch, bytes) : concatBytes(batch, bytes));
    this.#account();
    return !behind;
  }

  /** Ends replay: the live frames held back meanwhile go out next, in order. */
  goLive(): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = undefined;
    if (pending.length === 0) return;
    this.#batch = pending.length === 1 ? pending[0] : pending;
    this.#rounds.mark(this);
  }

  /**
   * Ends the stream with `event: overflow`; `reason` is what the event says. Everything not yet
   * on its way is dropped at once (frames it holds and those its socket queued behind the write
   * in flight): the overflow event follows the write in flight, and the connection is closed
   * when its socket has not taken them within the overflow wait.
   */
  overflow(reason = "subscriber queue full"): void {
    if (this.#ended) return;
    this.#batch = undefined;
    this.#pending = undefined;
    const frame = encodeEvent({
      event: "overflow",
      data: JSON.stringify({ reason, queue_bytes: this.#queueBytes }),
    });
    const sink = this.#sink;
    if (sink?.cut) {
      this.#held = 0;
      sink.cut(frame, this.#overflowWaitMs);
      return this.#finish("overflow");
    }
    this.#held = (this.#early ?? []).reduce((n, c) => n + c.length, 0);
    this.#send(frame);
    this.end("overflow");
  }

  /** Ends the stream; frames already written are still delivered (on shutdown, coalesced too). */
  end(reason: EndReason = "shutdown"): void {
    if (this.#ended) return;
    const batch = this.#batch;
    if (reason === "shutdown" && batch !== undefined) {
      const frames = batch instanceof Uint8Array ? [batch] : batch;
      this.#batch = undefined;
      this.#held -= frames.reduce((n, f) => n + f.length, 0);
      this.#send(concatBytes(frames));
    }
    this.#sink?.end();
    this.#finish(reason);
  }

  #finish(reason: EndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#pending = undefined;
    this.#batch = undefined;
    const h = this.#heldBytes;
    if (h) {
      // What its socket still holds stays counted until the socket lets it go (`released`).
      const still = reason === "client" || reason === "error" ? 0 : this.#sink?.backlog ?? 0;
      h.change(this, this.#charged, still);
      h.ended(this, still);
      this.#charged = 0;
      this.#closing = still;
    }
    this.#rounds.forget(this);
    this.#wake();
    this.#onEnd?.(reason);
  }
}
