/**
 * Embedded ledger storage on SQLite (node:sqlite): entries, perfect-subtree nodes and signed
 * checkpoints, written together in one transaction per group commit. WAL with
 * synchronous=FULL makes a returned commit durable across power loss and kill -9.
 *
 * The class is the storage boundary: the ledger logic talks only to these methods, so another
 * engine (e.g. PostgreSQL) can replace it.
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { openLocked, refuseNewerSchema, stampSchema } from "../config/mod.ts";
import type { NewNode } from "./proof/mod.ts";
import { LedgerCorruptError, NotALedgerError } from "./errors.ts";

/** A stored entry row. `body` is the canonical JSON the leaf hash covers. */
export interface EntryRow {
  index: number;
  tx_id: string;
  body: string;
  leaf_hash: Uint8Array;
  /** Tree size of the checkpoint this entry's receipt was issued against. */
  receipt_size: number;
  idem_key: string | null;
}

/** A stored signed checkpoint. */
export interface CheckpointRow {
  tree_size: number;
  root_hash: Uint8Array;
  note: string;
}

/** One group commit: new entries, the nodes they complete, and the signed checkpoint. */
export interface CommitBatch {
  entries: EntryRow[];
  nodes: NewNode[];
  checkpoint: CheckpointRow;
}

/**
 * The schema version of a ledger file (SQLite's user_version; files from before the stamp read
 * 0, of the same tables).
 */
export const LEDGER_SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
  idx INTEGER PRIMARY KEY,
  tx_id TEXT NOT NULL,
  body TEXT NOT NULL,
  leaf_hash BLOB NOT NULL,
  receipt_size INTEGER NOT NULL,
  idem_key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS entries_by_tx ON entries (tx_id, idx);
CREATE TABLE IF NOT EXISTS nodes (
  level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
  tree_size INTEGER PRIMARY KEY, root_hash BLOB NOT NULL, note TEXT NOT NULL
);
`;

/** Bytes of the database file memory-mapped by read-only (verification) opens. */
const VERIFY_MMAP_BYTES = 1 << 30;
/** Page cache of read-only (verification) opens, in KiB. */
const VERIFY_CACHE_KIB = 256 * 1024;

/** Rows per query when scanning entries or nodes for verification. */
const SCAN_CHUNK = 4096;

/** Thrown when a node a proof needs is missing from storage (a damaged database). */
class MissingNodeError extends LedgerCorruptError {
  override name = "MissingNodeError";
}

type Row = Record<string, unknown>;

function toEntry(r: Row): EntryRow {
  return {
    index: Number(r.idx),
    tx_id: r.tx_id as string,
    body: r.body as string,
    leaf_hash: r.leaf_hash as Uint8Array,
    receipt_size: Number(r.receipt_size),
    idem_key: (r.idem_key as string | null) ?? null,
  };
}

function toCheckpoint(r: Row): CheckpointRow {
  return {
    tree_size: Number(r.tree_size),
    root_hash: r.root_hash as Uint8Array,
    note: r.note as string,
  };
}

/** Keyset pagination by `idx`: `first` takes (...args, limit), `next` (...args, after, limit). */
function* chunks(
  first: StatementSync,
  next: StatementSync,
  args: number[],
  chunk: number,
): Generator<Row[]> {
  let rows = first.all(...args, chunk) as Row[];
  while (rows.length > 0) {
    yield rows;
    if (rows.length < chunk) return;
    rows = next.all(...args, rows[rows.length - 1].idx as number, chunk) as Row[];
  }
}

/** The columns of the ledger's `entries` table. */
const ENTRY_COLUMNS = ["idx", "tx_id", "body", "leaf_hash", "receipt_size", "idem_key"];
/** The ledger's tables. */
const LEDGER_TABLES = new Set(["meta", "entries", "nodes", "checkpoints"]);

/**
 * Throws NotALedgerError for a database another program made (tables of its own and no ledger
 * entries, or an `entries` table of other columns), and SQLite's own error for a file that is not
 * a database at all. A new or empty file, and a ledger, pass.
 */
function refuseNonLedger(db: DatabaseSync): void {
  const tables = (db.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
  ).all() as Row[]).map((r) => String(r.name));
  if (tables.includes("entries")) {
    const columns = new Set(
      (db.prepare("PRAGMA table_info(entries)").all() as Row[]).map((r) => String(r.name)),
    );
    const missing = ENTRY_COLUMNS.filter((c) => !columns.has(c));
    if (missing.length > 0) {
      throw new NotALedgerError(`its entries table has no column ${missing.join(", ")}`);
    }
    return;
  }
  const others = tables.filter((t) => !LEDGER_TABLES.has(t));
  if (others.length > 0) {
    const shown = others.slice(0, 5).join(", ") + (others.length > 5 ? ", ..." : "");
    throw new NotALedgerError(`a database of another program (tables ${shown})`);
  }
}

/** The SQLite ledger store. */
export class LedgerStore {
  readonly db: DatabaseSync;
  readonly #s: Record<string, StatementSync>;
  /** The writer's lock on the file (none read-only): one process appends to a ledger. */
  readonly #lock: Deno.FsFile | undefined;

  /**
   * Opens (creating if needed) a ledger database; `readOnly` for offline verification, which
   * may read a ledger a running service writes.
   * @throws {FileInUseError} when another process (or store) writes this ledger
   */
  constructor(readonly path: string, opts: { readOnly?: boolean } = {}) {
    const readOnly = opts.readOnly ?? false;
    ({ lock: this.#lock, store: this.db } = openLocked(
      path,
      () => new DatabaseSync(path, { readOnly }),
      readOnly,
    ));
    this.db.exec("PRAGMA busy_timeout = 5000");
    // Nothing is written to a file that is not a ledger, or one a newer release wrote (nor its
    // journal mode changed); nor is such a file verified as this release reads a ledger.
    try {
      if (!readOnly) refuseNonLedger(this.db);
      refuseNewerSchema(this.db, path, LEDGER_SCHEMA_VERSION);
    } catch (err) {
      if (this.db.isOpen) this.db.close();
      this.#lock?.close();
      throw err;
    }
    if (opts.readOnly) {
      // Verification streams the whole file once: map it and keep a large page cache.
      this.db.exec(`PRAGMA mmap_size = ${VERIFY_MMAP_BYTES}`);
      this.db.exec(`PRAGMA cache_size = -${VERIFY_CACHE_KIB}`);
    } else {
      this.db.exec("PRAGMA journal_mode = WAL");
      this.db.exec("PRAGMA synchronous = FULL");
      this.db.exec(SCHEMA);
      stampSchema(this.db, LEDGER_SCHEMA_VERSION);
    }
    const p = (sql: string) => this.db.prepare(sql);
    this.#s = {
      size: p("SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM entries"),
      leaf: p("SELECT leaf_hash FROM entries WHERE idx = ?"),
      node: p("SELECT hash FROM nodes WHERE level = ? AND idx = ?"),
      entry: p("SELECT * FROM entries WHERE idx = ?"),
      byTx: p("SELECT * FROM entries WHERE tx_id = ? ORDER BY idx LIMIT ?"),
      byKey: p("SELECT * FROM entries WHERE idem_key = ?"),
      checkpoint: p("SELECT * FROM checkpoints WHERE tree_size = ?"),
      latest: p("SELECT * FROM checkpoints ORDER BY tree_size DESC LIMIT 1"),
      getMeta: p("SELECT value FROM meta WHERE key = ?"),
      ...(opts.readOnly ? {} : {
        setMeta: p("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
        insEntry: p(
          "INSERT INTO entries (idx, tx_id, body, leaf_hash, receipt_size, idem_key) " +
            "VALUES (?, ?, ?, ?, ?, ?)",
        ),
        insNode: p("INSERT OR REPLACE INTO nodes (level, idx, hash) VALUES (?, ?, ?)"),
        insCheckpoint: p(
          "INSERT OR REPLACE INTO checkpoints (tree_size, root_hash, note) VALUES (?, ?, ?)",
        ),
      }),
    };
  }

  /** Number of entries (one past the highest index). */
  size(): number {
    return Number((this.#s.size.get() as Row).n);
  }

  /** Hash of perfect subtree (level, index); level 0 is the leaf hash. */
  readNode(level: number, index: number): Uint8Array {
    const r = (level === 0 ? this.#s.leaf.get(index) : this.#s.node.get(level, index)) as
      | Row
      | undefined;
    const h = r ? (level === 0 ? r.leaf_hash : r.hash) as Uint8Array : undefined;
    if (!h) throw new MissingNodeError(`tree node ${level}/${index} is missing`);
    return h;
  }

  /** The entry at `index`, if any. */
  entry(index: number): EntryRow | undefined {
    const r = this.#s.entry.get(index) as Row | undefined;
    return r ? toEntry(r) : undefined;
  }

  /** Entries for a transaction id, oldest first, at most `limit`. */
  entriesByTx(txId: string, limit: number): EntryRow[] {
    return (this.#s.byTx.all(txId, limit) as Row[]).map(toEntry);
  }

  /** The entry appended under an idempotency key, if any. */
  entryByKey(key: string): EntryRow | undefined {
    const r = this.#s.byKey.get(key) as Row | undefined;
    return r ? toEntry(r) : undefined;
  }

  /** The stored checkpoint for a tree size, if any. */
  checkpoint(treeSize: number): CheckpointRow | undefined {
    const r = this.#s.checkpoint.get(treeSize) as Row | undefined;
    return r ? toCheckpoint(r) : undefined;
  }

  /** The newest stored checkpoint. */
  latestCheckpoint(): CheckpointRow | undefined {
    const r = this.#s.latest.get() as Row | undefined;
    return r ? toCheckpoint(r) : undefined;
  }

  /** A metadata value (origin, vkey). */
  getMeta(key: string): string | undefined {
    const value = this.#s.getMeta.get(key)?.value;
    return typeof value === "string" ? value : undefined;
  }

  /** Sets a metadata value. */
  setMeta(key: string, value: string): void {
    this.#s.setMeta.run(key, value);
  }

  /** Writes one group commit in a single durable transaction (all or nothing). */
  commit(batch: CommitBatch): void {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      for (const e of batch.entries) {
        this.#s.insEntry.run(e.index, e.tx_id, e.body, e.leaf_hash, e.receipt_size, e.idem_key);
      }
      for (const n of batch.nodes) this.#s.insNode.run(n.level, n.index, n.hash);
      const c = batch.checkpoint;
      this.#s.insCheckpoint.run(c.tree_size, c.root_hash, c.note);
      this.db.exec("COMMIT");
    } catch (err) {
      try {
        this.db.exec("ROLLBACK");
      } catch { /* the failed statement may already have ended the transaction */ }
      throw err;
    }
  }

  /**
   * Entries in index order, `chunk` rows per query (offline verification). One `all()` per
   * chunk costs about half of stepping an iterator once per row. Run it inside a transaction
   * for a consistent snapshot across chunks.
   */
  *entryChunks(chunk = SCAN_CHUNK): Generator<Row[]> {
    yield* chunks(
      this.db.prepare("SELECT idx, body, leaf_hash FROM entries ORDER BY idx LIMIT ?"),
      this.db.prepare(
        "SELECT idx, body, leaf_hash FROM entries WHERE idx > ? ORDER BY idx LIMIT ?",
      ),
      [],
      chunk,
    );
  }

  /** Stored nodes of one level in index order, `chunk` rows per query (offline verification). */
  *nodeChunks(level: number, chunk = SCAN_CHUNK): Generator<Row[]> {
    yield* chunks(
      this.db.prepare("SELECT idx, hash FROM nodes WHERE level = ? ORDER BY idx LIMIT ?"),
      this.db.prepare(
        "SELECT idx, hash FROM nodes WHERE level = ? AND idx > ? ORDER BY idx LIMIT ?",
      ),
      [level],
      chunk,
    );
  }

  /** Iterates checkpoints by tree size (offline verification). */
  iterateCheckpoints(): Iterable<Row> {
    return this.db.prepare("SELECT * FROM checkpoints ORDER BY tree_size").iterate();
  }

  /** Highest node level stored. */
  maxLevel(): number {
    return Number(
      (this.db.prepare("SELECT COALESCE(MAX(level), 0) AS l FROM nodes").get() as Row).l,
    );
  }

  /** Closes the database and releases the writer's lock. */
  close(): void {
    if (this.db.isOpen) {
      this.db.close();
      this.#lock?.close();
    }
  }
}
