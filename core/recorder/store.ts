/**
 * Durable flight-recorder stores: SQLite (`.db`, `.sqlite`, `.sqlite3`; indexed lookups by
 * trace id) or JSON lines (any other name; append-only export with one rotation). Appends are
 * queued and written in batches off the request path; the queue and the store are bounded.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { type Logger, silentLogger } from "../log/mod.ts";
import type { TraceRecord } from "./record.ts";

/** Records waiting to be written before new ones are dropped (and counted). */
const DEFAULT_STORE_QUEUE = 10_000;
/** Rows kept in a SQLite store; older rows are pruned. */
export const DEFAULT_STORE_MAX_ROWS = 1_000_000;
/** Size at which a JSONL file is rotated to `<file>.1`. */
const DEFAULT_JSONL_MAX_BYTES = 256 * 1024 * 1024;
/** Records returned for one trace from a store. */
const MAX_RECORDS_PER_TRACE = 1000;
/** Delay before a batch is written (records arriving meanwhile join it). */
const FLUSH_DELAY_MS = 20;

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

/** Options for {@linkcode openRecordStore}. */
export interface StoreOptions {
  maxQueue?: number;
  maxRows?: number;
  maxBytes?: number;
  log?: Logger;
}

/** Opens the store for `path`, choosing SQLite or JSONL by extension. */
export function openRecordStore(path: string, opts: StoreOptions = {}): RecordStore {
  return /\.(db|sqlite3?)$/i.test(path) ? new SqliteStore(path, opts) : new JsonlStore(path, opts);
}

/** Batching shared by both stores. */
abstract class BatchingStore implements RecordStore {
  protected queue: TraceRecord[] = [];
  protected readonly log: Logger;
  readonly #maxQueue: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
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
    this.#timer ??= setTimeout(() => this.flush(), FLUSH_DELAY_MS);
  }

  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
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

class SqliteStore extends BatchingStore {
  readonly #db: DatabaseSync;
  readonly #maxRows: number;
  readonly #insert;
  readonly #select;

  constructor(path: string, opts: StoreOptions) {
    super(opts);
    this.#maxRows = opts.maxRows ?? DEFAULT_STORE_MAX_ROWS;
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS trace_records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        trace_id TEXT NOT NULL,
        type TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        details TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS trace_records_trace ON trace_records (trace_id, id);
    `);
    this.#insert = this.#db.prepare(
      "INSERT INTO trace_records (trace_id, type, timestamp, details) VALUES (?, ?, ?, ?)",
    );
    this.#select = this.#db.prepare(
      "SELECT type, trace_id, timestamp, details FROM trace_records WHERE trace_id = ? ORDER BY id LIMIT ?",
    );
  }

  protected write(batch: TraceRecord[]): void {
    this.#db.exec("BEGIN");
    try {
      let last = 0;
      for (const r of batch) {
        last = Number(
          this.#insert.run(r.trace_id, r.type, r.timestamp, JSON.stringify(r.details))
            .lastInsertRowid,
        );
      }
      if (last > this.#maxRows) {
        this.#db.prepare("DELETE FROM trace_records WHERE id <= ?").run(last - this.#maxRows);
      }
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  find(traceId: string): TraceRecord[] {
    this.flush();
    const rows = this.#select.all(traceId, MAX_RECORDS_PER_TRACE) as Array<
      { type: string; trace_id: string; timestamp: string; details: string }
    >;
    return rows.map((r) => ({
      type: r.type as TraceRecord["type"],
      trace_id: r.trace_id,
      timestamp: r.timestamp,
      details: JSON.parse(r.details),
    }));
  }

  protected shutdown(): void {
    this.#db.close();
  }
}

class JsonlStore extends BatchingStore {
  readonly #path: string;
  readonly #maxBytes: number;
  #file: Deno.FsFile;
  #bytes: number;
  readonly #encoder = new TextEncoder();

  constructor(path: string, opts: StoreOptions) {
    super(opts);
    this.#path = path;
    this.#maxBytes = opts.maxBytes ?? DEFAULT_JSONL_MAX_BYTES;
    this.#file = Deno.openSync(path, { append: true, create: true });
    this.#bytes = this.#file.statSync().size;
  }

  protected write(batch: TraceRecord[]): void {
    const data = this.#encoder.encode(batch.map((r) => JSON.stringify(r)).join("\n") + "\n");
    if (this.#bytes > 0 && this.#bytes + data.length > this.#maxBytes) this.#rotate();
    let off = 0;
    while (off < data.length) off += this.#file.writeSync(data.subarray(off));
    this.#bytes += data.length;
  }

  #rotate(): void {
    this.#file.close();
    Deno.renameSync(this.#path, `${this.#path}.1`);
    this.#file = Deno.openSync(this.#path, { append: true, create: true });
    this.#bytes = 0;
  }

  /** JSONL is an export log: lookups beyond the in-memory ring are served from pending records only. */
  find(traceId: string): TraceRecord[] {
    return this.queue.filter((r) => r.trace_id === traceId);
  }

  protected shutdown(): void {
    this.#file.close();
  }
}
