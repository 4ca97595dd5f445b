/**
 * A worker isolate's flight recorder: records are scrubbed and stamped here and posted to the
 * main isolate (which owns the recorder) in batches, off the request path; lookups are asked of
 * the main isolate. Records posted and not yet acknowledged are bounded: past the bound new
 * ones are dropped and counted, as the Redis store does while Redis is away.
 * @module
 */
import type { Channel } from "../cluster/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  newTraceRecord,
  type RecordDetails,
  type RecordType,
  type TraceRecord,
} from "../recorder/mod.ts";
import type { TraceBook } from "./server.ts";

/** Records posted in one message at most. */
const MAX_BATCH = 256;
/** Records posted and not yet acknowledged, plus those waiting, before new ones are dropped. */
export const MAX_UNACKED_RECORDS = 20_000;
/** At most one "records dropped" line per this interval. */
const DROP_LOG_INTERVAL_MS = 5_000;

/** See the module doc. */
export class RecordLink implements TraceBook {
  readonly #main: Channel;
  readonly #log: Logger;
  #pending: TraceRecord[] = [];
  #unacked = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dropped = 0;
  #lastDropLog = 0;

  constructor(main: Channel, log: Logger) {
    this.#main = main;
    this.#log = log;
    main.on("acked", (n) => this.#unacked = Math.max(0, this.#unacked - Number(n)));
    main.on("flush", () => {
      this.flush();
      return true;
    });
  }

  /** Records dropped because the main isolate fell behind. */
  get dropped(): number {
    return this.#dropped;
  }

  record(type: RecordType, traceId: string, details: RecordDetails): void {
    if (this.#unacked + this.#pending.length >= MAX_UNACKED_RECORDS) {
      this.#drop();
      return;
    }
    this.#pending.push(newTraceRecord(type, traceId, details));
    if (this.#pending.length >= MAX_BATCH) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), 0);
  }

  /** Posts what waits (the main isolate receives it before any later call or answer). */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    this.#main.post("records", this.#pending);
    this.#unacked += this.#pending.length;
    this.#pending = [];
  }

  async lookup(traceId: string): Promise<TraceRecord[]> {
    this.flush();
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
    this.#log.warn("flight-recorder records dropped: the main isolate fell behind", {
      dropped: this.#dropped,
      bound: MAX_UNACKED_RECORDS,
    });
  }
}
