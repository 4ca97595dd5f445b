/**
 * Pushed response bodies: a long-lived stream (SSE) whose producer pushes chunks that the
 * connection writes straight onto the socket, with no ReadableStream, reader or per-chunk
 * promise between them. Chunks pushed while a write is in flight go out together in the next
 * write; the producer sees the bytes not yet written (`backlog`) and bounds itself on them.
 * @module
 */
import { chunkFrame, joinChunks, LAST_CHUNK } from "./framing.ts";
import type { SocketWriter } from "./response.ts";

/** Why a pushed body ended from the connection's side. */
export type PushEnd = "client" | "error";

/** Where a producer pushes its chunks. */
export interface PushSink {
  /** Queues `chunk` for the socket without waiting; false once the body ended. */
  write(chunk: Uint8Array): boolean;
  /** Bytes pushed and not yet taken by the socket (the write in flight included). */
  readonly backlog: number;
  /** Ends the body once everything queued is written. */
  end(): void;
  /**
   * Ends the body at once with `last`: what is queued and not yet being written is dropped,
   * `last` goes out after the write in flight (if any), and the connection is closed when that is
   * not all taken within `waitMs`. Optional: without it, a producer writes `last` and ends.
   */
  cut?(last: Uint8Array, waitMs: number): void;
}

/** A producer of a pushed body. */
export interface PushSource {
  /** The answer is on its way: push through `sink` from now on. Called at most once. */
  open(sink: PushSink): void;
  /** Everything pushed so far was taken by the socket (a producer waiting for room resumes). */
  drained(): void;
  /**
   * The socket took only part of a write: its buffers are full, the peer reads slower than it
   * is written to (the rest goes out as it reads). Optional.
   */
  partial?(): void;
  /**
   * The body ended from the connection's side (the client went away, a write failed or
   * stalled past its deadline, the server closed the connection); pushes are ignored now.
   * Not called after the producer's own `end()`.
   */
  closed(reason: PushEnd): void;
  /**
   * The body ended and nothing pushed is held any more (all of it written, or dropped with the
   * connection). Optional; called once.
   */
  released?(): void;
}

/** Marker streams and the producers behind them, until a connection or a reader claims one. */
const sources = new WeakMap<ReadableStream<Uint8Array>, PushSource>();

/**
 * A response body pushed by `source`. Served by this HTTP edge, its chunks go straight to the
 * socket; read as an ordinary stream anywhere else (an in-process `app.request`, a proxy), the
 * same producer feeds it through the stream's queue, so both behave alike.
 * @example
 * ```ts
 * app.get("/events", (c) => c.body(pushStream(subscriber), 200, { "content-type": "text/event-stream" }));
 * ```
 */
export function pushStream(source: PushSource): ReadableStream<Uint8Array> {
  let claimed = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!claimed) {
        claimed = true;
        if (sources.get(stream) !== source) return; // the edge took it
        sources.delete(stream);
        source.open(new QueueSink(controller, source));
      } else source.drained();
    },
    cancel() {
      if (sources.get(stream) === source) sources.delete(stream);
      source.closed("client");
      source.released?.();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: 0 }));
  sources.set(stream, source);
  return stream;
}

/** Claims the producer behind a {@linkcode pushStream} body; undefined for any other stream. */
export function claimPushSource(body: ReadableStream<Uint8Array>): PushSource | undefined {
  const source = sources.get(body);
  if (source) sources.delete(body);
  return source;
}

/** A sink feeding a ReadableStream's queue (a pushed body read outside the edge). */
class QueueSink implements PushSink {
  #ended = false;
  constructor(
    private readonly controller: ReadableStreamDefaultController<Uint8Array>,
    private readonly source: PushSource,
  ) {}

  write(chunk: Uint8Array): boolean {
    if (this.#ended) return false;
    try {
      this.controller.enqueue(chunk);
      return true;
    } catch {
      this.#ended = true; // cancelled meanwhile
      return false;
    }
  }

  get backlog(): number {
    return Math.max(0, -(this.controller.desiredSize ?? 0));
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.controller.close();
    } catch { /* cancelled */ }
    this.source.released?.();
  }
}

/** What a socket sink tells its connection. */
export interface PushHooks {
  /** A write started (true) or the queue drained (false): the stall deadline runs meanwhile. */
  writing(active: boolean): void;
  /** The body was cut short: the connection closes in `waitMs` unless it ended by then. */
  closeWithin?(waitMs: number): void;
  /**
   * The body ended (once): it was written, was cancelled, or a write failed (`failure`).
   * Called from a write's completion or a later microtask, never from within the sink's own
   * methods, and possibly before the code that started the push got the sink back.
   */
  pushEnded(sink: SocketPush, failure?: { error: unknown }): void;
}

/**
 * Queued chunks joined into one socket write, at most (a larger chunk goes out alone): a reader
 * that stalled holds its chunks as they were pushed (often shared with other connections), not a
 * copy of them all made for one write.
 */
export const JOIN_BYTES = 64 * 1024;

/**
 * The sink of a pushed body on a connection: queued chunks (framed for chunked coding when
 * asked) are joined into one write, up to {@linkcode JOIN_BYTES}, whenever the previous write
 * finishes.
 */
export class SocketPush implements PushSink {
  /** Chunks waiting for the write in flight to finish. */
  #queue: Uint8Array[] | undefined;
  #queued = 0;
  /** The bytes being written, and how many of them the socket took so far. */
  #writing: Uint8Array | undefined;
  #taken = 0;
  #inFlight = 0;
  #ended = false;
  #closed = false;
  /** Whether the connection was told the body ended. */
  #told = false;

  /**
   * @param out the connection's writer
   * @param source the producer (told of drains and of an end from this side)
   * @param chunked frame each chunk for the chunked coding (HTTP/1.1) and end with the last chunk
   * @param hooks what the connection is told
   * @param keepAlive whether the connection may carry another request once the body ended
   */
  constructor(
    private readonly out: SocketWriter,
    private readonly source: PushSource,
    private readonly chunked: boolean,
    private readonly hooks: PushHooks,
    readonly keepAlive: boolean,
  ) {}

  get backlog(): number {
    return this.#queued + this.#inFlight;
  }

  /** Queues the head: written first, joined with whatever is pushed before it goes out. */
  start(head: Uint8Array): void {
    this.#push(head);
  }

  write(chunk: Uint8Array): boolean {
    if (this.#ended || this.#closed) return false;
    if (chunk.length === 0) return true;
    const bytes = this.chunked ? chunkFrame(chunk) : chunk;
    // Nothing waiting: straight to the socket, no queue (a fan-out's usual case).
    if (this.#inFlight === 0) this.#send(bytes);
    else this.#push(bytes);
    return true;
  }

  end(): void {
    if (this.#ended || this.#closed) return;
    this.#ended = true;
    if (this.chunked) this.#push(LAST_CHUNK);
    else if (this.#inFlight === 0) queueMicrotask(() => this.#tell());
  }

  cut(last: Uint8Array, waitMs: number): void {
    if (this.#ended || this.#closed) return;
    this.#queue = undefined;
    this.#queued = 0;
    if (last.length > 0) this.write(last);
    this.end();
    if (this.#inFlight > 0) this.hooks.closeWithin?.(waitMs);
  }

  /** The connection ended the body (`reason`); the producer is told, pending bytes dropped. */
  cancel(reason: PushEnd): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = undefined;
    this.#queued = 0;
    this.#writing = undefined;
    const ended = this.#ended;
    this.#ended = true;
    if (!ended) this.source.closed(reason);
    queueMicrotask(() => this.#tell());
  }

  /** Tells the connection the body ended (once). */
  #tell(failure?: { error: unknown }): void {
    if (this.#told) return;
    this.#told = true;
    this.source.released?.();
    this.hooks.pushEnded(this, failure);
  }

  #push(bytes: Uint8Array): void {
    (this.#queue ??= []).push(bytes);
    this.#queued += bytes.length;
    if (this.#inFlight === 0) this.#flush();
  }

  /**
   * Writes what was queued while the last write was in flight: joined up to
   * {@linkcode JOIN_BYTES}, a larger chunk alone (no copy); the rest waits for the next write.
   */
  #flush(): void {
    const q = this.#queue ?? [];
    let n = 1;
    let bytes = q[0].length;
    while (n < q.length && bytes + q[n].length <= JOIN_BYTES) bytes += q[n++].length;
    if (n === q.length) {
      this.#queue = undefined; // a subscriber that waits long holds no array
      this.#queued = 0;
      return this.#send(joinChunks(q, bytes));
    }
    const head = q.splice(0, n);
    this.#queued -= bytes;
    this.#send(n === 1 ? head[0] : joinChunks(head, bytes));
  }

  #send(bytes: Uint8Array): void {
    this.#inFlight = bytes.length;
    this.#writing = bytes;
    this.#taken = 0;
    this.hooks.writing(true);
    this.out.writeSome(bytes).then(this.#wrote, this.#failed);
  }

  /** A socket write took `n` bytes: write the rest, or what was queued meanwhile. */
  readonly #wrote = (n: number): void => {
    if (this.#closed) return;
    const bytes = this.#writing;
    this.#taken += n;
    if (bytes && this.#taken < bytes.length) {
      if (this.#taken === n) this.source.partial?.(); // once per write: its first take
      this.out.writeSome(bytes.subarray(this.#taken)).then(this.#wrote, this.#failed);
      return;
    }
    this.#writing = undefined;
    this.#inFlight = 0;
    if (this.#queued > 0) return this.#flush();
    this.hooks.writing(false);
    if (this.#ended) return this.#tell();
    this.source.drained();
  };

  readonly #failed = (err: unknown): void => {
    this.#inFlight = 0;
    this.#writing = undefined;
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = undefined;
    this.#queued = 0;
    const ended = this.#ended;
    this.#ended = true;
    if (!ended) this.source.closed("error");
    this.#tell({ error: err });
  };
}

/**
 * Queues the head and hands `source` its sink: the body is pushed from now on, and the
 * connection is told through `hooks.pushing`, then once through `hooks.pushEnded`. Nothing here waits for the
 * body, so whatever built the answer can be let go while it streams. Resolves whether the
 * connection may stay open afterwards (HTTP/1.0 bodies are close-delimited).
 */
export function sendPush(
  out: SocketWriter,
  source: PushSource,
  headOf: (framing: string, keepAlive: boolean) => Uint8Array,
  x: { keepAlive: boolean; minor: number },
  hooks: PushHooks & { pushing(sink: SocketPush): void },
): boolean {
  const chunked = x.minor === 1;
  const keep = chunked && x.keepAlive;
  const sink = new SocketPush(out, source, chunked, hooks, keep);
  sink.start(headOf(chunked ? "transfer-encoding: chunked\r\n" : "", keep));
  hooks.pushing(sink);
  source.open(sink);
  return keep;
}
