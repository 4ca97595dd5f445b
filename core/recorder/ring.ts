/**
 * The flight recorder: a fixed-capacity ring of trace records indexed by trace id, with an
 * optional durable store behind it. Details are scrubbed (secrets, cards, SSNs) before anything
 * reads a record: at once when a store or a subscriber takes every record, else the first time
 * it is looked up, so a request nobody traces pays for no scrubbing, no timestamp text and no
 * record object. What the ring holds until then is the caller's details (or the function that
 * builds them); nothing unscrubbed is ever stored, published or served.
 * @module
 */
import { scrub } from "../log/mod.ts";
import { hasPiiSizedNumber, redactPiiNumbers } from "../pii/mod.ts"; // also installs the log PII scrubber
import { RECORD_TYPES, type RecordType, type TraceRecord } from "./record.ts";
import type { SharedRecordStore } from "./redis_store.ts";
import type { RecordStore } from "./store.ts";

/** Default number of records kept in memory. */
export const DEFAULT_TRACE_CAPACITY = 2_000;

/** A record's details, or a function that builds them when the record is first read. */
export type RecordDetails = Record<string, unknown> | (() => Record<string, unknown>);

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

const TYPE_CODE = Object.fromEntries(RECORD_TYPES.map((t, i) => [t, i])) as Record<
  RecordType,
  number
>;
/** No slot (end of a trace's chain). */
const NONE = -1;

let stampMs = NaN;
let stampText = "";

/** `new Date(ms).toISOString()`, formatted once per millisecond. */
function isoAt(ms: number): string {
  if (ms !== stampMs) {
    stampText = new Date(ms).toISOString();
    stampMs = ms;
  }
  return stampText;
}

/** The details `d` stands for (a builder that fails leaves a marker, never an exception). */
function detailsOf(d: RecordDetails): Record<string, unknown> {
  if (typeof d !== "function") return d;
  try {
    return d();
  } catch {
    return { details_unavailable: true };
  }
}

/** The scrubbed record of `details` recorded at `ms`. */
function finish(type: RecordType, traceId: string, ms: number, d: RecordDetails): TraceRecord {
  // scrub() covers secrets and PII in strings; numbers need the PII pass of their own (its
  // copy is skipped when no number could be a card or an SSN).
  const scrubbed = scrub(detailsOf(d));
  return {
    type,
    trace_id: traceId,
    timestamp: isoAt(ms),
    details: (hasPiiSizedNumber(scrubbed) ? redactPiiNumbers(scrubbed) : scrubbed) as Record<
      string,
      unknown
    >,
  };
}

/**
 * Bounded, indexed, scrubbed flight recorder. The ring is a set of parallel arrays (no object
 * per record); each trace's records are chained slot to slot, and the index maps a trace id to
 * its newest slot.
 */
export class FlightRecorder {
  readonly capacity: number;
  readonly #type: Uint8Array;
  readonly #at: Float64Array;
  readonly #traceId: Array<string | undefined>;
  /** What was recorded (details or their builder) until first read, then the record. */
  readonly #data: Array<RecordDetails | TraceRecord | undefined>;
  readonly #done: Uint8Array;
  /** The previous and next slot of the same trace, or NONE. */
  readonly #prev: Int32Array;
  readonly #next: Int32Array;
  /** Trace id -> its newest slot. */
  readonly #newest = new Map<string, number>();
  readonly #store?: RecordStore;
  readonly #shared?: SharedRecordStore;
  readonly #onRecord?: (record: TraceRecord) => void;
  #slot = 0;
  #size = 0;

  constructor(opts: FlightRecorderOptions = {}) {
    const n = this.capacity = Math.max(1, opts.capacity ?? DEFAULT_TRACE_CAPACITY);
    this.#type = new Uint8Array(n);
    this.#at = new Float64Array(n);
    this.#traceId = new Array(n);
    this.#data = new Array(n);
    this.#done = new Uint8Array(n);
    this.#prev = new Int32Array(n).fill(NONE);
    this.#next = new Int32Array(n).fill(NONE);
    this.#store = opts.store;
    this.#shared = opts.shared;
    this.#onRecord = opts.onRecord;
  }

  /** Records currently in memory. */
  get size(): number {
    return this.#size;
  }

  /**
   * Keeps a record of `details` (or of what the function returns, called once when the record
   * is first read; it must only capture values that do not change). Scrubbed and handed to the
   * store and subscribers at once when there are any.
   */
  record(type: RecordType, traceId: string, details: RecordDetails): void {
    const slot = this.#slot;
    this.#evict(slot);
    const ms = Date.now();
    this.#type[slot] = TYPE_CODE[type];
    this.#at[slot] = ms;
    this.#traceId[slot] = traceId;
    const newest = this.#newest.get(traceId);
    this.#prev[slot] = newest ?? NONE;
    if (newest !== undefined) this.#next[newest] = slot;
    this.#newest.set(traceId, slot);
    this.#slot = slot + 1 === this.capacity ? 0 : slot + 1;
    if (this.#size < this.capacity) this.#size++;
    if (this.#store || this.#shared || this.#onRecord) {
      const rec = finish(type, traceId, ms, details);
      this.#data[slot] = rec;
      this.#done[slot] = 1;
      this.handOn(rec);
    } else {
      this.#data[slot] = details;
      this.#done[slot] = 0;
    }
  }

  /**
   * Hands a record to the durable and shared stores and the subscriber without keeping it in
   * this ring: for records another isolate of the service keeps (`--workers`).
   */
  handOn(rec: TraceRecord): void {
    this.#store?.append(rec);
    this.#shared?.append(rec);
    try {
      this.#onRecord?.(rec);
    } catch {
      // A failing subscriber (relay, audit) must never fail the request that recorded.
    }
  }

  /** Frees `slot`: records enter in time order, so it holds the oldest record of its trace. */
  #evict(slot: number): void {
    const id = this.#traceId[slot];
    if (id === undefined) return;
    const next = this.#next[slot];
    if (next !== NONE) this.#prev[next] = NONE;
    else this.#newest.delete(id);
    this.#next[slot] = NONE;
    this.#traceId[slot] = undefined;
    this.#data[slot] = undefined;
  }

  /** The record in `slot`, scrubbed on first read. */
  #read(slot: number): TraceRecord {
    const data = this.#data[slot];
    if (this.#done[slot] === 1) return data as TraceRecord;
    const type = RECORD_TYPES[this.#type[slot]];
    const rec = finish(type, this.#traceId[slot] ?? "", this.#at[slot], data as RecordDetails);
    this.#data[slot] = rec;
    this.#done[slot] = 1;
    return rec;
  }

  /** The records of one trace in this ring, oldest first (none: empty). */
  inMemory(traceId: string): TraceRecord[] {
    const newest = this.#newest.get(traceId);
    if (newest === undefined) return [];
    const slots: number[] = [];
    for (let s = newest; s !== NONE; s = this.#prev[s]) slots.push(s);
    const out: TraceRecord[] = [];
    for (let i = slots.length - 1; i >= 0; i--) out.push(this.#read(slots[i]));
    return out;
  }

  /** The records of one trace, oldest first: from memory, else from the durable store. */
  trace(traceId: string): TraceRecord[] {
    const own = this.inMemory(traceId);
    return own.length > 0 ? own : this.#store?.find(traceId) ?? [];
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
