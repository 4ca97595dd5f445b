/**
 * The sequencing isolate's fan-out to the relay's worker isolates (`--workers`): every stored
 * event, in sequence order, batched per tick, to each worker that loaded its snapshot. What a
 * worker has not taken yet is bounded: each batch is counted in bytes until the worker says it
 * took it (a `taken` post), and while any worker holds more than the bound (its loop starved of
 * CPU, say) publishes are refused with 503 and Retry-After instead of queueing without end in
 * its message port. A batch crosses as one string (isolate_wire.ts) and holds at most `max_payload_bytes` of
 * events (a larger event goes alone): a worker's cached event keeps the string it came in alive.
 * @module
 */
import type { Channel } from "../cluster/mod.ts";
import { UnavailableError } from "../errors/mod.ts";
import { encodeEvents } from "./isolate_wire.ts";
import type { TailedEvent } from "./js_wire.ts";
import { RETRY_AFTER_SECONDS } from "./publish.ts";
import type { StoredEvent } from "./store.ts";

/** The post a worker answers each `events` batch with once it took it. */
export const TAKEN = "taken";
/** The post telling a worker the store's history started over under a new epoch. */
export const EPOCH = "epoch";
/** Bytes counted per event besides its data and topic (ids, times, the envelope). */
const EVENT_OVERHEAD = 128;

/** What one worker has been sent and not taken yet. */
interface Outstanding {
  /** Bytes of each batch not taken yet, oldest first (a port delivers in order). */
  batches: number[];
  bytes: number;
}

/** Sends every stored event to the workers that loaded their snapshot, batched per tick. */
export class Broadcast {
  /** Workers that receive events (those whose snapshot was taken), with what they hold. */
  readonly #live = new Map<Channel, Outstanding>();
  /** Newest sequence per topic, for each event's `prev`. */
  readonly #last = new Map<string, number>();
  readonly #maxBytes: number;
  readonly #batchLimit: number;
  #batch: TailedEvent[] = [];
  #batchBytes = 0;

  /**
   * @param topics each topic's newest sequence in the store
   * @param maxBytes most bytes of events a worker may hold untaken before publishes are refused
   * @param batchBytes most bytes of events in a batch of several (`max_payload_bytes`)
   */
  constructor(
    topics: Iterable<{ topic: string; lastSeq: number }>,
    maxBytes: number,
    batchBytes: number,
  ) {
    for (const t of topics) this.#last.set(t.topic, t.lastSeq);
    this.#maxBytes = maxBytes;
    this.#batchLimit = batchBytes;
  }

  /**
   * Forgets the topics not among `topics` (freed by the store): a topic created again starts a
   * new chain (`prev` 0), and the isolates' own age retention frees it as the store did.
   */
  retain(topics: Iterable<{ topic: string }>): void {
    const keep = new Set<string>();
    for (const t of topics) keep.add(t.topic);
    for (const t of this.#last.keys()) if (!keep.has(t)) this.#last.delete(t);
  }

  /** Starts sending to `worker` (its snapshot is being taken). */
  join(worker: Channel): void {
    this.#live.set(worker, { batches: [], bytes: 0 });
  }

  /** Stops counting what `worker` holds (it is gone). */
  leave(worker: Channel): void {
    this.#live.delete(worker);
  }

  /** `worker` took its oldest batch (its `taken` post). */
  taken(worker: Channel): void {
    const o = this.#live.get(worker);
    const bytes = o?.batches.shift();
    if (o && bytes !== undefined) o.bytes -= bytes;
  }

  /** Bytes the worker furthest behind holds untaken. */
  get behind(): number {
    let most = 0;
    for (const o of this.#live.values()) most = Math.max(most, o.bytes);
    return most;
  }

  /**
   * Refuses a publish while a worker holds more than the bound untaken.
   * @throws {UnavailableError} (503 with Retry-After) naming the setting
   */
  admit(): void {
    if (this.behind <= this.#maxBytes) return;
    throw new UnavailableError(
      "a worker isolate of the relay is behind on its events (backlog_bytes); retry",
      RETRY_AFTER_SECONDS,
    );
  }

  /**
   * Queues `e` for every worker (sent at the end of this tick, or now if the batch is full). A
   * batch of several events counts at most the batch bound: one that `e` would take past it is
   * sent first, and an event that reaches it alone leaves alone. `unread`: events of the topic
   * up to that sequence left the store before it read them; `e` names it as its `prev`, so each
   * worker sees the same gap.
   */
  add(e: StoredEvent, unread = 0): void {
    const prev = Math.max(this.#last.get(e.topic) ?? 0, unread);
    this.#last.set(e.topic, e.seq);
    if (this.#live.size === 0) return;
    const bytes = e.data.length + e.topic.length + EVENT_OVERHEAD;
    if (this.#batchBytes + bytes > this.#batchLimit) this.#flush();
    if (this.#batch.length === 0) queueMicrotask(() => this.#flush());
    this.#batch.push({ event: e, prev, storedMs: e.tsMs });
    this.#batchBytes += bytes;
    if (this.#batchBytes >= this.#batchLimit) this.#flush();
  }

  /**
   * The store's history started over (its JetStream stream was created again): the events sent
   * so far are followed by `epoch`, and the next ones chain from nothing.
   */
  newEpoch(epoch: string): void {
    this.#flush();
    this.#last.clear();
    for (const worker of this.#live.keys()) worker.post(EPOCH, epoch);
  }

  #flush(): void {
    if (this.#batch.length === 0) return; // sent already: it filled up
    const text = encodeEvents(this.#batch);
    const bytes = this.#batchBytes;
    this.#batch = [];
    this.#batchBytes = 0;
    for (const [worker, o] of this.#live) {
      o.batches.push(bytes);
      o.bytes += bytes;
      worker.post("events", text);
    }
  }
}
