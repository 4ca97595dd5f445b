/**
 * The flight recorder: a fixed-capacity ring of trace records indexed by trace id, with an
 * optional durable store behind it. Details are scrubbed (secrets, cards, SSNs) before anything
 * reads a record: at once when a store or a subscriber takes every record, else the first time
 * it is looked up, so a request nobody traces pays for no scrubbing, no timestamp text and no
 * record object. What the ring holds until then is the caller's details (or the function that
 * builds them, or for the sidecar's records their fields in typed arrays and the payload in a
 * byte arena); nothing unscrubbed is ever stored, published or served.
 * @module
 */
import { scrub } from "../log/mod.ts";
import { hasPiiSizedNumber, redactPiiNumbers } from "../pii/mod.ts"; // also installs the log PII scrubber
import { PayloadArena } from "./arena.ts";
import { NONE, TraceIndex } from "./trace_index.ts";
import { RECORD_TYPES, type RecordType, type TraceRecord } from "./record.ts";
import type { SharedRecordStore } from "./redis_store.ts";
import type { RecordStore } from "./store.ts";

/** Default number of records kept in memory. */
export const DEFAULT_TRACE_CAPACITY = 2_000;

/** Default largest payload kept per packed record, in bytes. */
export const DEFAULT_PAYLOAD_BYTES = 3 * 4_096;

/** What a packed record's builder is given when the record is first read. */
export interface PackedFields {
  ref: unknown;
  a: number;
  b: number;
  flags: number;
  /** The payload's bytes (a view: decode it, do not keep it); empty when none was kept. */
  payload: Uint8Array;
}

/**
 * Details the ring keeps without an object of their own: `ref` (a value shared by many records,
 * e.g. a cached parse, never one made for this record alone), two numbers, flag bits and a
 * payload copied into the ring's arena (bytes, or text kept as UTF-8, cut to the ring's
 * `payloadBytes` at a character boundary). `build` (a function made once, not per record) turns
 * them into the details when the record is first read.
 */
export class PackedDetails {
  constructor(
    readonly build: (f: PackedFields) => Record<string, unknown>,
    readonly ref: unknown,
    readonly a: number,
    readonly b: number,
    readonly flags: number,
    readonly payload?: Uint8Array | string,
  ) {}
}

/**
 * A record's details: an object, a function that builds them when the record is first read, or
 * {@linkcode PackedDetails}.
 */
export type RecordDetails =
  | Record<string, unknown>
  | (() => Record<string, unknown>)
  | PackedDetails;

/** Options for {@linkcode FlightRecorder}. */
interface FlightRecorderOptions {
  /** Records kept in memory; the oldest is evicted first. */
  capacity?: number;
  /** Largest payload a packed record keeps, in bytes (the arena holds up to capacity + 1 of them). */
  payloadBytes?: number;
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
const REQUEST_CODE = TYPE_CODE.request;
const RESPONSE_CODE = TYPE_CODE.response;

/**
 * The code of record type `type`. A proxied request's two types are told by comparing strings:
 * a lookup by name in {@linkcode TYPE_CODE}, given several names, goes megamorphic (about 100
 * instructions a record under callgrind).
 */
function typeCode(type: RecordType): number {
  if (type === "request") return REQUEST_CODE;
  if (type === "response") return RESPONSE_CODE;
  return TYPE_CODE[type];
}
/** What a slot's data holds: details or their builder, a packed builder, the finished record. */
const RAW = 0;
const PACKED = 1;
const DONE = 2;
const EMPTY = new Uint8Array(0);

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

/** The details `d` builds (a builder that fails leaves a marker, never an exception). */
function detailsOf(d: () => Record<string, unknown>): Record<string, unknown> {
  try {
    return d();
  } catch {
    return { details_unavailable: true };
  }
}

/** The scrubbed record of `details` recorded at `ms`. */
function finish(
  type: RecordType,
  traceId: string,
  ms: number,
  details: Record<string, unknown>,
): TraceRecord {
  // scrub() covers secrets and PII in strings; numbers need the PII pass of their own (its
  // copy is skipped when no number could be a card or an SSN).
  const scrubbed = scrub(details);
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
 * per record); each trace's records are chained slot to slot, and the index
 * ({@linkcode TraceIndex}) maps a trace id to its newest slot without a string or map entry per
 * record.
 */
export class FlightRecorder {
  readonly capacity: number;
  readonly #type: Uint8Array;
  readonly #at: Float64Array;
  /** What was recorded (details, their builder or a packed builder) until first read, then the record. */
  readonly #data: Array<RecordDetails | PackedDetails["build"] | TraceRecord | undefined>;
  /** RAW, PACKED or DONE. */
  readonly #state: Uint8Array;
  /** A packed record's fields (its payload is in the arena). */
  readonly #ref: unknown[];
  readonly #a: Float64Array;
  readonly #b: Float64Array;
  readonly #flags: Int32Array;
  readonly #arena: PayloadArena;
  /** The previous and next slot of the same trace, or NONE. */
  readonly #prev: Int32Array;
  readonly #next: Int32Array;
  /** Trace id -> its newest slot, and each slot's trace id. */
  readonly #index: TraceIndex;
  readonly #store?: RecordStore;
  readonly #shared?: SharedRecordStore;
  readonly #onRecord?: (record: TraceRecord) => void;
  /** Each slot's record number (see {@linkcode FlightRecorder.record}). */
  readonly #number: Float64Array;
  /** Records made so far. */
  #count = 0;
  #slot = 0;
  #size = 0;

  constructor(opts: FlightRecorderOptions = {}) {
    const n = this.capacity = Math.max(1, opts.capacity ?? DEFAULT_TRACE_CAPACITY);
    this.#type = new Uint8Array(n);
    this.#at = new Float64Array(n);
    this.#index = new TraceIndex(n);
    this.#data = new Array(n);
    this.#state = new Uint8Array(n);
    this.#ref = new Array(n);
    this.#a = new Float64Array(n);
    this.#b = new Float64Array(n);
    this.#flags = new Int32Array(n);
    this.#arena = new PayloadArena(n, opts.payloadBytes ?? DEFAULT_PAYLOAD_BYTES);
    this.#prev = new Int32Array(n).fill(NONE);
    this.#next = new Int32Array(n).fill(NONE);
    this.#number = new Float64Array(n).fill(-1);
    this.#store = opts.store;
    this.#shared = opts.shared;
    this.#onRecord = opts.onRecord;
  }

  /**
   * Whether each record is read (scrubbed) as it is made, to be handed to a store or a
   * subscriber; otherwise a record is first read when it is looked up.
   */
  get readsAtOnce(): boolean {
    return this.#store !== undefined || this.#shared !== undefined ||
      this.#onRecord !== undefined;
  }

  /** Records currently in memory. */
  get size(): number {
    return this.#size;
  }

  /**
   * Keeps a record of `details` (or of what the function returns, called once when the record
   * is first read; it must only capture values that do not change). Scrubbed and handed to the
   * store and subscribers at once when there are any. Returns the record's number: given back as
   * `after` with the trace's next record, it spares looking the trace up again while that record
   * is still its newest in the ring (otherwise the trace is looked up as usual).
   */
  record(type: RecordType, traceId: string, details: RecordDetails, after?: number): number {
    const slot = this.#slot;
    const prev = this.#newestAt(after, slot, traceId);
    this.#evict(slot);
    const ms = Date.now();
    this.#type[slot] = typeCode(type);
    this.#at[slot] = ms;
    const number = this.#count++;
    this.#number[slot] = number;
    if (prev !== NONE) {
      this.#prev[slot] = prev;
      this.#next[prev] = slot;
      this.#index.putAfter(slot, prev);
    } else {
      const newest = this.#index.findFor(slot, traceId);
      this.#prev[slot] = newest;
      if (newest !== NONE) this.#next[newest] = slot;
      this.#index.put(slot, traceId);
    }
    this.#slot = slot + 1 === this.capacity ? 0 : slot + 1;
    if (this.#size < this.capacity) this.#size++;
    if (details instanceof PackedDetails) this.#pack(slot, details);
    else {
      this.#data[slot] = details;
      this.#state[slot] = RAW;
    }
    if (this.#store || this.#shared || this.#onRecord) this.handOn(this.#read(slot));
    return number;
  }

  /**
   * The slot of record number `after` when it is still in the ring, still the newest of trace
   * `traceId`, and not `slot` (about to be reused); else NONE.
   */
  #newestAt(after: number | undefined, slot: number, traceId: string): number {
    if (after === undefined || !(after >= 0)) return NONE;
    const s = after % this.capacity;
    if (s === slot || this.#number[s] !== after || this.#next[s] !== NONE) return NONE;
    return this.#index.holdsId(s, traceId) ? s : NONE;
  }

  /** Keeps packed details in the slot's columns and the arena. */
  #pack(slot: number, d: PackedDetails): void {
    this.#data[slot] = d.build;
    this.#state[slot] = PACKED;
    this.#ref[slot] = d.ref;
    this.#a[slot] = d.a;
    this.#b[slot] = d.b;
    this.#flags[slot] = d.flags;
    if (d.payload !== undefined) this.#arena.put(slot, d.payload);
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
    if (!this.#index.holds(slot)) return;
    const next = this.#next[slot];
    if (next !== NONE) this.#prev[next] = NONE;
    this.#index.release(slot, next === NONE);
    this.#next[slot] = NONE;
    this.#data[slot] = undefined;
    this.#ref[slot] = undefined;
    this.#arena.free(slot);
  }

  /** The record in `slot`, scrubbed on first read. */
  #read(slot: number): TraceRecord {
    const data = this.#data[slot];
    const state = this.#state[slot];
    if (state === DONE) return data as TraceRecord;
    const details = state === PACKED
      ? this.#unpack(slot, data as PackedDetails["build"])
      : typeof data === "function"
      ? detailsOf(data as () => Record<string, unknown>)
      : data as Record<string, unknown>;
    const type = RECORD_TYPES[this.#type[slot]];
    const rec = finish(type, this.#index.idOf(slot), this.#at[slot], details);
    this.#data[slot] = rec;
    this.#state[slot] = DONE;
    this.#ref[slot] = undefined;
    return rec;
  }

  /** The details a packed slot's builder makes of its fields. */
  #unpack(slot: number, build: PackedDetails["build"]): Record<string, unknown> {
    const payload = this.#arena.view(slot) ?? EMPTY;
    const ref = this.#ref[slot];
    const fields = { ref, a: this.#a[slot], b: this.#b[slot], flags: this.#flags[slot], payload };
    return detailsOf(() => build(fields));
  }

  /** The records of one trace in this ring, oldest first (none: empty). */
  inMemory(traceId: string): TraceRecord[] {
    const newest = this.#index.find(traceId);
    if (newest === NONE) return [];
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
