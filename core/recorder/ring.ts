/**
 * The flight recorder: a fixed-capacity ring of trace records indexed by trace id, with an
 * optional durable store behind it. Details are scrubbed (secrets, cards, SSNs) on the way in,
 * so nothing unscrubbed is ever held, stored, published or served.
 * @module
 */
import { scrub } from "../log/mod.ts";
import { hasPiiSizedNumber, redactPiiNumbers } from "../pii/mod.ts"; // also installs the log PII scrubber
import type { RecordType, TraceRecord } from "./record.ts";
import type { SharedRecordStore } from "./redis_store.ts";
import type { RecordStore } from "./store.ts";

/** Default number of records kept in memory. */
export const DEFAULT_TRACE_CAPACITY = 2_000;

/** Options for {@linkcode FlightRecorder}. */
interface FlightRecorderOptions {
  /** Records kept in memory; the oldest is evicted first. */
  capacity?: number;
  /** Durable copy of every record (written off the request path). */
  store?: RecordStore;
  /** Store shared with other replicas (Redis): lookups ask it first. */
  shared?: SharedRecordStore;
  /** Called with every stored record (e.g. publish to the relay); must not throw or block. */
  onRecord?: (record: TraceRecord) => void;
}

let stampMs = NaN;
let stampText = "";

/** `new Date().toISOString()`, formatted once per millisecond. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== stampMs) {
    stampText = new Date(ms).toISOString();
    stampMs = ms;
  }
  return stampText;
}

/** Bounded, indexed, scrubbed flight recorder. */
export class FlightRecorder {
  readonly capacity: number;
  readonly #ring: Array<TraceRecord | undefined>;
  readonly #byTrace = new Map<string, TraceRecord[]>();
  readonly #store?: RecordStore;
  readonly #shared?: SharedRecordStore;
  readonly #onRecord?: (record: TraceRecord) => void;
  #next = 0;
  #size = 0;

  constructor(opts: FlightRecorderOptions = {}) {
    this.capacity = Math.max(1, opts.capacity ?? DEFAULT_TRACE_CAPACITY);
    this.#ring = new Array(this.capacity);
    this.#store = opts.store;
    this.#shared = opts.shared;
    this.#onRecord = opts.onRecord;
  }

  /** Records currently in memory. */
  get size(): number {
    return this.#size;
  }

  /** Scrubs `details`, stamps the time, stores the record and returns it. */
  record(type: RecordType, traceId: string, details: Record<string, unknown>): TraceRecord {
    // scrub() covers secrets and PII in strings; numbers need the PII pass of their own (its
    // copy is skipped when no number could be a card or an SSN).
    const scrubbed = scrub(details);
    const rec: TraceRecord = {
      type,
      trace_id: traceId,
      timestamp: isoNow(),
      details: (hasPiiSizedNumber(scrubbed) ? redactPiiNumbers(scrubbed) : scrubbed) as Record<
        string,
        unknown
      >,
    };
    this.#evictSlot(this.#next);
    this.#ring[this.#next] = rec;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
    const list = this.#byTrace.get(traceId);
    if (list) list.push(rec);
    else this.#byTrace.set(traceId, [rec]);
    this.#store?.append(rec);
    this.#shared?.append(rec);
    try {
      this.#onRecord?.(rec);
    } catch {
      // A failing subscriber (relay, audit) must never fail the request that recorded.
    }
    return rec;
  }

  #evictSlot(slot: number): void {
    const old = this.#ring[slot];
    if (!old) return;
    const list = this.#byTrace.get(old.trace_id);
    // Records enter in time order, so the evicted one is the oldest of its trace.
    if (list && list[0] === old) list.shift();
    if (list && list.length === 0) this.#byTrace.delete(old.trace_id);
  }

  /** The records of one trace, oldest first: from memory, else from the durable store. */
  trace(traceId: string): TraceRecord[] {
    const inMemory = this.#byTrace.get(traceId);
    if (inMemory && inMemory.length > 0) return [...inMemory];
    return this.#store?.find(traceId) ?? [];
  }

  /**
   * The records of one trace as every replica recorded them (the shared store), else as this
   * one did ({@linkcode trace}). While the shared store is unreachable, this replica's own
   * records still answer.
   * @throws {UnavailableError} when the shared store is unreachable and this replica has no
   * record of the trace.
   */
  async lookup(traceId: string): Promise<TraceRecord[]> {
    if (!this.#shared) return this.trace(traceId);
    let shared: TraceRecord[];
    try {
      shared = await this.#shared.find(traceId);
    } catch (err) {
      const own = this.trace(traceId);
      if (own.length > 0) return own;
      throw err;
    }
    return shared.length > 0 ? shared : this.trace(traceId);
  }

  /** Flushes and closes the durable and shared stores. */
  async close(): Promise<void> {
    await this.#store?.close();
    await this.#shared?.close();
  }
}
