/**
 * The SQLite flight-recorder store (`.db`, `.sqlite`, `.sqlite3`): indexed lookups by trace id,
 * pruned to a row cap. Its own module, loaded only when a store file asks for it: `node:sqlite`
 * costs a process about 1 MB.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { openLocked, refuseNewerSchema, stampSchema } from "../config/mod.ts";
import {
  BatchingStore,
  DEFAULT_STORE_MAX_ROWS,
  MAX_RECORDS_PER_TRACE,
  type StoreOptions,
} from "./batching.ts";
import type { TraceRecord } from "./record.ts";

/**
 * The schema version of a flight-recorder file (SQLite's user_version; files from before the
 * stamp read 0, of the same table).
 */
export const RECORDER_SCHEMA_VERSION = 1;

/** Opens (creating) the database at `path` with its table; closed again when that fails. */
function openDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    refuseNewerSchema(db, path, RECORDER_SCHEMA_VERSION); // before anything is written
    db.exec(`
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
    stampSchema(db, RECORDER_SCHEMA_VERSION);
    return db;
  } catch (err) {
    if (db.isOpen) db.close();
    throw err;
  }
}

/** A SQLite store at `path` (created when missing), holding the file's writer lock while open. */
export class SqliteStore extends BatchingStore {
  readonly #db: DatabaseSync;
  readonly #lock: Deno.FsFile | undefined;
  readonly #maxRows: number;
  readonly #insert;
  readonly #select;

  /** @throws {FileInUseError} when another process (or store) writes this file */
  constructor(path: string, opts: StoreOptions) {
    super(opts);
    this.#maxRows = opts.maxRows ?? DEFAULT_STORE_MAX_ROWS;
    ({ lock: this.#lock, store: this.#db } = openLocked(path, () => openDatabase(path)));
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
    this.#lock?.close();
  }
}
