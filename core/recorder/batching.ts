/**
 * What the durable flight-recorder stores share: the store interface, its options, and the
 * batching of appends (queued, written together off the request path, bounded).
 * @module
 */
import { after, type Timer } from "../async/mod.ts";
import { type Logger, silentLogger } from "../log/mod.ts";
import type { TraceRecord } from "./record.ts";

/** Records waiting to be written before new ones are dropped (and counted). */
const DEFAULT_STORE_QUEUE = 10_000;
/** Delay before a batch is written (records arriving meanwhile join it). */
const FLUSH_DELAY_MS = 20;
/** Rows kept in a SQLite store; older rows are pruned. */
export const DEFAULT_STORE_MAX_ROWS = 1_000_000;
/** Records returned for one trace from a store. */
export const MAX_RECORDS_PER_TRACE = 1000;

/** A durable record store. */
export interface RecordStore {
  /** Queues a record; never blocks or throws. */
  append(record: TraceRecord): void;
  /** Records of one trace, oldest first (pending ones included). */
  find(traceId: string): TraceRecord[];
  /** Records dropped because the queue was full or a write failed. */
  readonly dropped: number;
  flush(): void;
  close(): Promise<void>;
}

/** Options of a durable record store. */
export interface StoreOptions {
  maxQueue?: number;
  maxRows?: number;
  maxBytes?: number;
  log?: Logger;
}

/** Batching shared by both stores. */
export abstract class BatchingStore implements RecordStore {
  protected queue: TraceRecord[] = [];
  protected readonly log: Logger;
  readonly #maxQueue: number;
  #timer: Timer | undefined;
  #dropped = 0;
  #closed = false;

  constructor(opts: StoreOptions) {
    this.#maxQueue = opts.maxQueue ?? DEFAULT_STORE_QUEUE;
    this.log = opts.log ?? silentLogger;
  }

  get dropped(): number {
    return this.#dropped;
  }

  protected countDropped(n: number): void {
    this.#dropped += n;
  }

  append(record: TraceRecord): void {
    if (this.#closed || this.queue.length >= this.#maxQueue) {
      this.#dropped++;
      return;
    }
    this.queue.push(record);
    this.#timer ??= after(FLUSH_DELAY_MS, () => this.flush());
  }

  flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    try {
      this.write(batch);
    } catch (err) {
      this.#dropped += batch.length;
      this.log.error("flight recorder store write failed", { err, records: batch.length });
    }
  }

  close(): Promise<void> {
    this.flush();
    this.#closed = true;
    this.shutdown();
    return Promise.resolve();
  }

  abstract find(traceId: string): TraceRecord[];
  protected abstract write(batch: TraceRecord[]): void;
  protected abstract shutdown(): void;
}
