/**
 * Ledger storage on PostgreSQL: the same rows as the SQLite store (entries, perfect-subtree
 * nodes, signed checkpoints, origin and vkey) plus one head row holding the tree size and the
 * packed Merkle frontier. Every writer takes one transaction-scoped advisory lock before it reads
 * the head, so any number of processes extend one unbroken sequence.
 * @module
 */
import type { Sql, TransactionSql } from "../engine/mod.ts";
import { encodeHex } from "../encoding/mod.ts";
import { NewerSchemaError } from "../errors/mod.ts";
import { LedgerCorruptError, LedgerPrivilegeError } from "./errors.ts";
import { Frontier, type NewNode } from "./proof/mod.ts";
import type { CheckpointRow, CommitBatch, EntryRow } from "./store.ts";

/** Bytes of one SHA-256 node hash. */
const HASH_BYTES = 32;
/** The advisory lock every ledger writer (and schema setup) holds for its transaction. */
const LOCK_KEY = 0x1a7b_a0d1;

/**
 * Schema version of the PostgreSQL ledger's tables, kept as the row `schema_version` of
 * `ledger_meta` (a row, not a COMMENT: a user granted only reading and writing the tables, not
 * their owner, may stamp it). Tables made before the row existed read as version 0, the tables of
 * version 1; a release that changes the tables raises it, so a replica of the release before it
 * refuses the changed tables instead of misreading them.
 */
export const PG_LEDGER_SCHEMA_VERSION = 1;
/** The `ledger_meta` key of the schema version. */
const SCHEMA_VERSION_KEY = "schema_version";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ledger_head (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    tree_size BIGINT NOT NULL,
    frontier BYTEA NOT NULL)`,
  `INSERT INTO ledger_head (tree_size, frontier) VALUES (0, '') ON CONFLICT DO NOTHING`,
  `CREATE TABLE IF NOT EXISTS ledger_entries (
    idx BIGINT PRIMARY KEY,
    tx_id TEXT NOT NULL,
    body TEXT NOT NULL,
    leaf_hash BYTEA NOT NULL,
    receipt_size BIGINT NOT NULL,
    idem_key TEXT UNIQUE)`,
  `CREATE INDEX IF NOT EXISTS ledger_entries_by_tx ON ledger_entries (tx_id, idx)`,
  `CREATE TABLE IF NOT EXISTS ledger_nodes (
    level SMALLINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (level, idx))`,
  `CREATE TABLE IF NOT EXISTS ledger_checkpoints (
    tree_size BIGINT PRIMARY KEY, root_hash BYTEA NOT NULL, note TEXT NOT NULL)`,
];

/**
 * What a replica does to each table once they exist: reads every one, appends entries, nodes and
 * checkpoints, moves the head. Checked at open, so a user who may only read them is refused at
 * start rather than at every commit.
 */
const WRITER_PRIVILEGES: readonly (readonly [table: string, privilege: string])[] = [
  ["ledger_meta", "SELECT"],
  ["ledger_head", "SELECT"],
  ["ledger_head", "UPDATE"],
  ["ledger_entries", "SELECT"],
  ["ledger_entries", "INSERT"],
  ["ledger_nodes", "SELECT"],
  ["ledger_nodes", "INSERT"],
  ["ledger_checkpoints", "SELECT"],
  ["ledger_checkpoints", "INSERT"],
];

/** Every table and index {@linkcode SCHEMA} makes. */
const SCHEMA_OBJECTS = [
  "ledger_meta",
  "ledger_head",
  "ledger_entries",
  "ledger_entries_by_tx",
  "ledger_nodes",
  "ledger_checkpoints",
];

const ENTRY_COLUMNS = "idx, tx_id, body, leaf_hash, receipt_size, idem_key";

type Row = Record<string, unknown>;

/** A stored entry row as the SQLite store shapes it. */
export function pgEntry(r: Row): EntryRow {
  return {
    index: Number(r.idx),
    tx_id: String(r.tx_id),
    body: String(r.body),
    leaf_hash: r.leaf_hash as Uint8Array,
    receipt_size: Number(r.receipt_size),
    idem_key: typeof r.idem_key === "string" ? r.idem_key : null,
  };
}

function pgCheckpoint(r: Row): CheckpointRow {
  return {
    tree_size: Number(r.tree_size),
    root_hash: r.root_hash as Uint8Array,
    note: String(r.note),
  };
}

/** The frontier as stored in the head row: its edge hashes, highest level first. */
function packFrontier(f: Frontier): Uint8Array {
  const edge = f.edge();
  const out = new Uint8Array(edge.length * HASH_BYTES);
  edge.forEach((n, i) => out.set(n.hash, i * HASH_BYTES));
  return out;
}

/**
 * Rebuilds the frontier of a head row.
 * @throws {LedgerCorruptError} when the packed hashes do not fit the size.
 */
function unpackFrontier(size: number, packed: Uint8Array): Frontier {
  let at = 0;
  const f = Frontier.restore(() => {
    const h = packed.subarray(at, at + HASH_BYTES);
    at += HASH_BYTES;
    if (h.length !== HASH_BYTES) throw new LedgerCorruptError(`head of ${size} is truncated`);
    return h;
  }, size);
  if (at !== packed.length) throw new LedgerCorruptError(`head of ${size} has extra hashes`);
  return f;
}

/**
 * The ledger's schema version as stored (0 when its tables or the row predate it).
 * @throws {LedgerCorruptError} when the stored value is not a version number
 */
async function pgLedgerSchemaVersion(sql: Sql | TransactionSql): Promise<number> {
  const [meta] = await sql`SELECT to_regclass('ledger_meta') IS NOT NULL AS ok`;
  if (!meta?.ok) return 0;
  const [r] = await sql`SELECT value FROM ledger_meta WHERE key = ${SCHEMA_VERSION_KEY}`;
  if (!r) return 0;
  const version = Number(r.value);
  if (!/^[0-9]{1,9}$/.test(String(r.value)) || !Number.isSafeInteger(version)) {
    throw new LedgerCorruptError(`ledger_meta ${SCHEMA_VERSION_KEY} is not a version number`);
  }
  return version;
}

/**
 * Refuses tables a newer release stamped ({@linkcode PG_LEDGER_SCHEMA_VERSION}), before anything
 * is written to them.
 * @throws {NewerSchemaError} naming `label` (the URL without its password)
 */
export async function refuseNewerPgLedger(
  sql: Sql | TransactionSql,
  label: string,
): Promise<number> {
  const found = await pgLedgerSchemaVersion(sql);
  if (found > PG_LEDGER_SCHEMA_VERSION) {
    throw new NewerSchemaError(label, found, PG_LEDGER_SCHEMA_VERSION);
  }
  return found;
}

/** Queries of the PostgreSQL ledger. Every method is one round trip unless it says otherwise. */
export class PgLedgerStore {
  /**
   * @param sql a connected client (see core/engine)
   * @param label the database as errors name it (its URL without the password)
   */
  constructor(readonly sql: Sql, readonly label = "the PostgreSQL ledger") {}

  /**
   * Creates the tables (under the writers' lock, so replicas starting together agree) and stamps
   * their schema version. Tables a newer release stamped are refused before anything is written
   * (no table made, no row touched). Once the tables all exist and carry this release's version
   * no DDL and no write runs: a user granted only reading and writing them (not their owner, no
   * CREATE on the schema) may run the ledger, which `CREATE INDEX IF NOT EXISTS` refused (`must
   * be owner of table ledger_entries`), and stamps tables of an older version with its row.
   * @throws {NewerSchemaError} when a newer release stamped the tables
   */
  async migrate(): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${LOCK_KEY})`;
      const found = await refuseNewerPgLedger(tx, this.label);
      const [made] = await tx`SELECT count(*)::int AS n FROM unnest(${SCHEMA_OBJECTS}::text[]) AS o
        WHERE to_regclass(o) IS NOT NULL`;
      if (Number(made.n) !== SCHEMA_OBJECTS.length) {
        for (const stmt of SCHEMA) await tx.unsafe(stmt);
      }
      // Version 0 (tables made before the stamp) holds the tables of version 1: nothing to bring
      // forward but the stamp.
      if (found !== PG_LEDGER_SCHEMA_VERSION) {
        await tx`INSERT INTO ledger_meta (key, value)
          VALUES (${SCHEMA_VERSION_KEY}, ${String(PG_LEDGER_SCHEMA_VERSION)})
          ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`;
      }
    });
  }

  /**
   * Refuses a user who may not do what a replica does to the tables
   * ({@linkcode WRITER_PRIVILEGES}; a grant on some columns counts).
   * @throws {LedgerPrivilegeError} naming each privilege missing
   */
  async checkPrivileges(): Promise<void> {
    const rows = await this.sql`SELECT t, p
      FROM unnest(${WRITER_PRIVILEGES.map(([t]) => t)}::text[],
        ${WRITER_PRIVILEGES.map(([, p]) => p)}::text[]) WITH ORDINALITY AS w(t, p, n)
      WHERE NOT has_any_column_privilege(t, p) ORDER BY n`;
    if (rows.length > 0) {
      throw new LedgerPrivilegeError(rows.map((r) => `${r.p} on ${r.t}`));
    }
  }

  /**
   * Stores `values` as the log's origin and vkey unless some are stored already; returns what
   * is stored (under the writers' lock).
   */
  async claimMeta(values: { origin: string; vkey: string }): Promise<Map<string, string>> {
    return await this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${LOCK_KEY})`;
      const rows = await tx`SELECT key, value FROM ledger_meta`;
      const meta = new Map(rows.map((r) => [String(r.key), String(r.value)]));
      if (!meta.has("vkey")) {
        for (const [key, value] of Object.entries(values)) {
          await tx`INSERT INTO ledger_meta (key, value) VALUES (${key}, ${value})
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`;
          meta.set(key, value);
        }
      }
      return meta;
    });
  }

  /** A metadata value (origin, vkey). */
  async getMeta(key: string): Promise<string | undefined> {
    const [r] = await this.sql`SELECT value FROM ledger_meta WHERE key = ${key}`;
    return r ? String(r.value) : undefined;
  }

  /**
   * Runs `work` in one transaction holding the writers' lock, with the current frontier; `work`
   * decides what to store and calls `write` with it. The lock is released at commit.
   */
  async sequence<T>(
    work: (frontier: Frontier, tx: PgSequencer) => Promise<T>,
  ): Promise<T> {
    return await this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${LOCK_KEY})`;
      const [head] = await tx`SELECT tree_size, frontier FROM ledger_head`;
      if (!head) throw new LedgerCorruptError("the ledger head row is missing");
      const frontier = unpackFrontier(Number(head.tree_size), head.frontier as Uint8Array);
      return await work(frontier, new PgSequencer(tx));
    }) as T;
  }

  /** The head row's tree size and root (read without the lock). */
  async head(): Promise<{ size: number; root: Uint8Array }> {
    const [head] = await this.sql`SELECT tree_size, frontier FROM ledger_head`;
    if (!head) throw new LedgerCorruptError("the ledger head row is missing");
    const f = unpackFrontier(Number(head.tree_size), head.frontier as Uint8Array);
    return { size: f.size, root: f.root() };
  }

  /** The entry at `index`, if any. */
  async entry(index: number): Promise<EntryRow | undefined> {
    const [r] = await this.sql.unsafe(
      `SELECT ${ENTRY_COLUMNS} FROM ledger_entries WHERE idx = $1`,
      [index],
    );
    return r ? pgEntry(r) : undefined;
  }

  /** Entries for a transaction id, oldest first, at most `limit`. */
  async entriesByTx(txId: string, limit: number): Promise<EntryRow[]> {
    const rows = await this.sql.unsafe(
      `SELECT ${ENTRY_COLUMNS} FROM ledger_entries WHERE tx_id = $1 ORDER BY idx LIMIT $2`,
      [txId, limit],
    );
    return rows.map(pgEntry);
  }

  /** Checkpoints of the given tree sizes. */
  async checkpoints(sizes: number[]): Promise<Map<number, CheckpointRow>> {
    const rows = await this.sql`SELECT tree_size, root_hash, note FROM ledger_checkpoints
      WHERE tree_size = ANY(${sizes}::bigint[])`;
    return new Map(rows.map((r) => [Number(r.tree_size), pgCheckpoint(r)]));
  }

  /** The newest stored checkpoint. */
  async latestCheckpoint(): Promise<CheckpointRow | undefined> {
    const [r] = await this.sql`SELECT tree_size, root_hash, note FROM ledger_checkpoints
      ORDER BY tree_size DESC LIMIT 1`;
    return r ? pgCheckpoint(r) : undefined;
  }

  /** Hashes of the given perfect subtrees (level 0: leaf hashes), keyed `level/index`. */
  async nodes(coords: Array<[number, number]>): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    const leaves = coords.filter(([l]) => l === 0).map(([, i]) => i);
    const inner = coords.filter(([l]) => l > 0);
    const [leafRows, nodeRows] = await Promise.all([
      leaves.length === 0 ? [] : this.sql`SELECT idx, leaf_hash FROM ledger_entries
        WHERE idx = ANY(${leaves}::bigint[])`,
      inner.length === 0 ? [] : this.sql`SELECT n.level, n.idx, n.hash FROM ledger_nodes n
        JOIN unnest(${inner.map(([l]) => l)}::smallint[], ${inner.map(([, i]) => i)}::bigint[])
          AS w(level, idx) ON n.level = w.level AND n.idx = w.idx`,
    ]);
    for (const r of leafRows) out.set(`0/${Number(r.idx)}`, r.leaf_hash as Uint8Array);
    for (const r of nodeRows) out.set(`${r.level}/${Number(r.idx)}`, r.hash as Uint8Array);
    return out;
  }
}

/** What a writer may do inside {@linkcode PgLedgerStore.sequence}. */
export class PgSequencer {
  /** @param tx the locked transaction */
  constructor(readonly tx: TransactionSql) {}

  /** Entries already stored under any of these idempotency keys. */
  async entriesByKeys(keys: string[]): Promise<Map<string, EntryRow>> {
    if (keys.length === 0) return new Map();
    const rows = await this.tx.unsafe(
      `SELECT ${ENTRY_COLUMNS} FROM ledger_entries WHERE idem_key = ANY($1::text[])`,
      [keys],
    );
    return new Map(rows.map((r) => [String(r.idem_key), pgEntry(r)]));
  }

  /** Stores a sealed batch and moves the head to its frontier (one pipelined round trip). */
  async write(batch: CommitBatch, frontier: Frontier): Promise<void> {
    const { entries, nodes, checkpoint: c } = batch;
    const tx = this.tx;
    await Promise.all([
      tx`INSERT INTO ledger_entries (idx, tx_id, body, leaf_hash, receipt_size, idem_key)
        SELECT i, t, b, decode(h, 'hex'), ${c.tree_size}, k
        FROM unnest(${entries.map((e) => e.index)}::bigint[], ${
        entries.map((e) => e.tx_id)
      }::text[],
          ${entries.map((e) => e.body)}::text[], ${
        entries.map((e) => encodeHex(e.leaf_hash))
      }::text[],
          ${entries.map((e) => e.idem_key)}::text[]) AS u(i, t, b, h, k)`,
      nodes.length === 0 ? undefined : insertNodes(tx, nodes),
      tx`INSERT INTO ledger_checkpoints (tree_size, root_hash, note)
        VALUES (${c.tree_size}, decode(${encodeHex(c.root_hash)}, 'hex'), ${c.note})`,
      tx`UPDATE ledger_head SET tree_size = ${frontier.size},
        frontier = decode(${encodeHex(packFrontier(frontier))}, 'hex')`,
    ]);
  }
}

function insertNodes(tx: TransactionSql, nodes: NewNode[]) {
  return tx`INSERT INTO ledger_nodes (level, idx, hash)
    SELECT l, i, decode(h, 'hex')
    FROM unnest(${nodes.map((n) => n.level)}::smallint[], ${nodes.map((n) => n.index)}::bigint[],
      ${nodes.map((n) => encodeHex(n.hash))}::text[]) AS u(l, i, h)`;
}
