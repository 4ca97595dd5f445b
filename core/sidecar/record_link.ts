/**
 * A worker isolate's flight recorder (`--workers`): its own ring, so the request path pays what
 * it pays on one isolate (records are scrubbed when first read) and waits on no other isolate.
 * Lookups are answered by the main isolate, which asks every isolate's ring. When the main
 * isolate hands records on (durable store, Redis, relay, audit), each record is also posted to
 * it, scrubbed, in batches; records posted and not yet acknowledged are bounded, and past the
 * bound new ones are not posted (they stay in the ring) and are counted, as the Redis store
 * drops while Redis is away.
 * @module
 */
import { after, type Timer } from "../async/mod.ts";
import type { Channel } from "../cluster/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  FlightRecorder,
  type RecordDetails,
  type RecordType,
  type TraceRecord,
} from "../recorder/mod.ts";
import type { TraceBook } from "./server.ts";

/** Records posted in one message at most. */
const MAX_BATCH = 256;
/** Records posted and not yet acknowledged, plus those waiting, before new ones are dropped. */
const MAX_UNACKED_RECORDS = 20_000;
/** At most one "records dropped" line per this interval. */
const DROP_LOG_INTERVAL_MS = 5_000;

/** See the module doc. */
export class RecordLink implements TraceBook {
  readonly #main: Channel;
  readonly #log: Logger;
  readonly #recorder: FlightRecorder;
  #pending: TraceRecord[] = [];
  #unacked = 0;
  #timer: Timer | undefined;
  #dropped = 0;
  #lastDropLog = 0;
  #problem: string | undefined;

  /**
   * @param ring records this isolate's ring keeps, and payload bytes per record
   * @param handOn whether the main isolate hands records on (then each is posted to it)
   */
  constructor(
    main: Channel,
    log: Logger,
    ring: { capacity: number; payloadBytes: number },
    handOn: boolean,
  ) {
    this.#main = main;
    this.#log = log;
    this.#recorder = new FlightRecorder({
      ...ring,
      onRecord: handOn ? (rec) => this.#post(rec) : undefined,
    });
    main.on("acked", (n) => this.#unacked = Math.max(0, this.#unacked - Number(n)));
    main.on("flush", () => {
      this.flush();
      return true;
    });
    main.on("trace", (id) => this.#recorder.inMemory(String(id)));
    main.on("problem", (why) => this.#problem = why ? String(why) : undefined);
  }

  /** What the main isolate last said keeps records from the relay or the ledger. */
  problem(): string | undefined {
    return this.#problem;
  }

  /** Records not posted because the main isolate fell behind. */
  get dropped(): number {
    return this.#dropped;
  }

  get readsAtOnce(): boolean {
    return this.#recorder.readsAtOnce;
  }

  record(type: RecordType, traceId: string, details: RecordDetails, after?: number): number {
    return this.#recorder.record(type, traceId, details, after);
  }

  #post(rec: TraceRecord): void {
    if (this.#unacked + this.#pending.length >= MAX_UNACKED_RECORDS) return this.#drop();
    this.#pending.push(rec);
    if (this.#pending.length >= MAX_BATCH) this.flush();
    // A macrotask later (as setTimeout(0) waited, without loading the Node layer), so the
    // records of the requests served meanwhile go out in one post.
    else this.#timer ??= after(0, () => this.flush());
  }

  /** Posts what waits (the main isolate receives it before any later call or answer). */
  flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    this.#main.post("records", this.#pending);
    this.#unacked += this.#pending.length;
    this.#pending = [];
  }

  async lookup(traceId: string): Promise<TraceRecord[]> {
    return await this.#main.call("lookup", traceId) as TraceRecord[];
  }

  close(): Promise<void> {
    this.flush();
    return Promise.resolve();
  }

  #drop(): void {
    this.#dropped++;
    const now = Date.now();
    if (now - this.#lastDropLog < DROP_LOG_INTERVAL_MS) return;
    this.#lastDropLog = now;
    this.#log.warn("flight-recorder records not handed on: the main isolate fell behind", {
      dropped: this.#dropped,
      bound: MAX_UNACKED_RECORDS,
    });
  }
}
