/**
 * Durable flight-recorder stores: SQLite (`.db`, `.sqlite`, `.sqlite3`; indexed lookups by
 * trace id; core/recorder/sqlite_store.ts, loaded only for such a file) or JSON lines (any other
 * name; append-only export with one rotation). Appends are queued and written in batches off the
 * request path; the queue and the store are bounded.
 * @module
 */
import { lockWriter, openLocked } from "../config/mod.ts";
import { BatchingStore, type RecordStore, type StoreOptions } from "./batching.ts";
import type { TraceRecord } from "./record.ts";

export { DEFAULT_STORE_MAX_ROWS, type RecordStore, type StoreOptions } from "./batching.ts";
/** Size at which a JSONL file is rotated to `<file>.1` unless configured (`recorder_max_bytes`). */
export const DEFAULT_JSONL_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Opens the store for `path`, choosing SQLite or JSONL by extension, and holds the file's writer
 * lock while it is open: a second sidecar writing the same file would interleave its lines or
 * collide with the first's batches.
 * @throws {FileInUseError} when another process (or another open store in this one) writes it
 * @throws what opening the file throws (a folder that does not exist, a file that is no database)
 */
export async function openRecordStore(
  path: string,
  opts: StoreOptions = {},
): Promise<RecordStore> {
  if (!/\.(db|sqlite3?)$/i.test(path)) return new JsonlStore(path, opts);
  const { SqliteStore } = await import("./sqlite_store.ts");
  return new SqliteStore(path, opts);
}

class JsonlStore extends BatchingStore {
  readonly #path: string;
  readonly #maxBytes: number;
  #file: Deno.FsFile;
  /** The writer's lock on the current file (taken again on the new file a rotation starts). */
  #lock: Deno.FsFile | undefined;
  #bytes: number;
  readonly #encoder = new TextEncoder();

  constructor(path: string, opts: StoreOptions) {
    super(opts);
    this.#path = path;
    this.#maxBytes = opts.maxBytes ?? DEFAULT_JSONL_MAX_BYTES;
    ({ lock: this.#lock, store: this.#file } = openLocked(
      path,
      () => Deno.openSync(path, { append: true, create: true }),
    ));
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
    Deno.renameSync(this.#path, `${this.#path}.1`);
    // The lock and the open file stay with the renamed file: the new file is locked before
    // they go, so no other writer can take it in between.
    const lock = lockWriter(this.#path);
    this.#file.close();
    this.#lock?.close();
    this.#lock = lock;
    this.#file = Deno.openSync(this.#path, { append: true, create: true });
    this.#bytes = 0;
  }

  /** JSONL is an export log: lookups beyond the in-memory ring are served from pending records only. */
  find(traceId: string): TraceRecord[] {
    return this.queue.filter((r) => r.trace_id === traceId);
  }

  protected shutdown(): void {
    this.#file.close();
    this.#lock?.close();
  }
}
