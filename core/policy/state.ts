/**
 * Durable state of the relay-driven decision loop (SQLite, WAL, synchronous=FULL): the relay
 * position to resume from and every decided tx_id with its decision, so a restart neither
 * skips an intent nor decides a tx_id twice.
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { openLocked, refuseNewerSchema, stampSchema } from "../config/mod.ts";
import { errorMessage } from "../errors/mod.ts";
import type { Decision } from "./engine.ts";
import { DEFAULT_MAX_DECIDED } from "./state_open.ts";

export { DEFAULT_MAX_DECIDED };

/**
 * The schema version of a decision state file (SQLite's user_version; files from before the
 * stamp read 0, brought forward by the constructor's migration).
 */
export const POLICY_STATE_SCHEMA_VERSION = 1;

/** The decision loop's state store. */
export class DecisionState {
  readonly #db: DatabaseSync;
  readonly #s: Record<string, StatementSync>;
  /** The writer's lock on the file: one policy process decides from a state file. */
  readonly #lock: Deno.FsFile | undefined;

  /** @throws {FileInUseError} when another process (or store) writes this file */
  constructor(path: string, readonly maxDecided = DEFAULT_MAX_DECIDED) {
    ({ lock: this.#lock, store: this.#db } = openLocked(path, () => {
      const db = new DatabaseSync(path);
      refuseNewerSchema(db, path, POLICY_STATE_SCHEMA_VERSION); // before anything is written
      return db;
    }));
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = FULL");
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS position (id INTEGER PRIMARY KEY CHECK (id = 1), last TEXT);
      CREATE TABLE IF NOT EXISTS decided (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tx_id TEXT NOT NULL UNIQUE,
        decision TEXT NOT NULL,
        delivered INTEGER NOT NULL DEFAULT 0
      );`);
    // Whether the relay took the decision (a retry then only appends it to the ledger); a column
    // added to state files written before it.
    const columns = this.#db.prepare("PRAGMA table_info(decided)").all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === "published")) {
      this.#db.exec("ALTER TABLE decided ADD COLUMN published INTEGER NOT NULL DEFAULT 0");
    }
    stampSchema(this.#db, POLICY_STATE_SCHEMA_VERSION);
    const p = (sql: string) => this.#db.prepare(sql);
    this.#s = {
      getPos: p("SELECT last FROM position WHERE id = 1"),
      setPos: p(
        "INSERT INTO position (id, last) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET last = excluded.last",
      ),
      has: p("SELECT 1 FROM decided WHERE tx_id = ?"),
      insert: p("INSERT INTO decided (tx_id, decision) VALUES (?, ?)"),
      delivered: p("UPDATE decided SET delivered = 1 WHERE tx_id = ?"),
      undelivered: p("SELECT decision FROM decided WHERE delivered = 0 ORDER BY seq LIMIT ?"),
      pending: p("SELECT 1 FROM decided WHERE tx_id = ? AND delivered = 0"),
      published: p("UPDATE decided SET published = 1 WHERE tx_id = ?"),
      isPublished: p("SELECT 1 FROM decided WHERE tx_id = ? AND published = 1"),
      count: p("SELECT COUNT(*) AS n FROM decided"),
      prune: p(
        "DELETE FROM decided WHERE seq IN (SELECT seq FROM decided WHERE delivered = 1 ORDER BY seq LIMIT ?)",
      ),
    };
  }

  /** The relay id to resume after, if any. */
  position(): string | undefined {
    return (this.#s.getPos.get() as { last?: string } | undefined)?.last ?? undefined;
  }

  /** Remembers the relay position (after an event is fully handled). */
  setPosition(id: string): void {
    this.#s.setPos.run(id);
  }

  /** Whether a tx_id was already decided. */
  decided(txId: string): boolean {
    return this.#s.has.get(txId) !== undefined;
  }

  /**
   * Records a decision and the position of its intent in one durable transaction.
   * @throws {Error} when the store cannot take it (a full or read-only disk, a locked file)
   */
  record(decision: Decision, position: string): void {
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      this.#s.insert.run(decision.tx_id, JSON.stringify(decision));
      this.#s.setPos.run(position);
      this.#db.exec("COMMIT");
    } catch (err) {
      // SQLite rolls some failures back by itself (a full disk): a second rollback would fail and
      // hide the reason.
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw new Error(`decision ${decision.tx_id} not recorded: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const over = Number((this.#s.count.get() as { n: number }).n) - this.maxDecided;
    if (over > 0) this.#s.prune.run(over);
  }

  /** Marks a decision as published and audited. */
  markDelivered(txId: string): void {
    this.#s.delivered.run(txId);
  }

  /** Marks a decision as taken by the relay (the ledger may still lack it). */
  markPublished(txId: string): void {
    this.#s.published.run(txId);
  }

  /** Whether the relay took the decision of `txId`. */
  isPublished(txId: string): boolean {
    return this.#s.isPublished.get(txId) !== undefined;
  }

  /** Whether the decision of `txId` is recorded and not yet delivered. */
  pending(txId: string): boolean {
    return this.#s.pending.get(txId) !== undefined;
  }

  /** Decisions recorded but not yet delivered (oldest first, at most `limit`). */
  undelivered(limit: number): Decision[] {
    return (this.#s.undelivered.all(limit) as Array<{ decision: string }>).map((r) =>
      JSON.parse(r.decision) as Decision
    );
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) {
      this.#db.close();
      this.#lock?.close();
    }
  }
}
