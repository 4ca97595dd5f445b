/**
 * Replay protection: remembers every accepted (agent id, request id) pair for the replay window
 * in SQLite, so a captured request is rejected even after the service restarts. Upstream kept
 * these ids in memory and forgot them on restart.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { createPrivateFile, refuseNewerSchema, stampSchema } from "../config/mod.ts";
import { DEFAULT_REPLAY_MAX_ENTRIES } from "./agent/mod.ts";

/**
 * The schema version of a replay store file (SQLite's user_version; files from before the stamp
 * read 0, of the same table).
 */
export const REPLAY_SCHEMA_VERSION = 1;

/** Default replay window (REPLAY_TTL_SECS upstream: 600). */
const DEFAULT_REPLAY_TTL_MS = 600_000;

/** Outcome of {@linkcode ReplayStore.remember}. */
export type ReplayVerdict = "fresh" | "replay" | "full";

/** Options for {@linkcode ReplayStore}. */
export interface ReplayStoreOptions {
  /** SQLite file path, or `:memory:` (tests only: not persisted). */
  path: string;
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

/** A persisted set of recently seen request ids. */
export class ReplayStore {
  readonly ttlMs: number;
  readonly maxEntries: number;
  #db: DatabaseSync;
  #now: () => number;
  #count: number;
  #lastPrune = 0;

  constructor(opts: ReplayStoreOptions) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_REPLAY_TTL_MS;
    this.maxEntries = opts.maxEntries ?? DEFAULT_REPLAY_MAX_ENTRIES;
    this.#now = opts.now ?? Date.now;
    // Made owner-only first: SQLite gives the -wal and -shm files the database file's mode.
    if (opts.path !== ":memory:" && opts.path !== "") createPrivateFile(opts.path).close();
    this.#db = new DatabaseSync(opts.path);
    try {
      refuseNewerSchema(this.#db, opts.path, REPLAY_SCHEMA_VERSION); // before anything is written
      // WAL + NORMAL: a crash may lose the last few ids at most, never corrupt the file.
      this.#db.exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=2000;",
      );
      this.#db.exec(
        "CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL)",
      );
      this.#db.exec("CREATE INDEX IF NOT EXISTS seen_expiry ON seen (expires_ms)");
      stampSchema(this.#db, REPLAY_SCHEMA_VERSION);
      this.#prune(true);
      this.#count = this.#countRows();
    } catch (err) {
      if (this.#db.isOpen) this.#db.close(); // a file that is no database: nothing stays open until the next try
      throw err;
    }
  }

  /** Records the pair; "replay" when it was already seen inside the window, "full" at the bound. */
  remember(agentId: string, requestId: string): ReplayVerdict {
    this.#prune(false);
    const key = `${agentId}\u0000${requestId}`;
    const now = this.#now();
    const existing = this.#db.prepare("SELECT expires_ms FROM seen WHERE key = ?").get(key) as
      | { expires_ms: number }
      | undefined;
    // Inclusive: an id is remembered up to and including its expiry instant, the same closed
    // interval the skew check accepts timestamps in.
    if (existing && existing.expires_ms >= now) return "replay";
    if (!existing && this.#count >= this.maxEntries) {
      this.#prune(true);
      if (this.#count >= this.maxEntries) return "full";
    }
    this.#db.prepare("INSERT OR REPLACE INTO seen (key, expires_ms) VALUES (?, ?)")
      .run(key, now + this.ttlMs);
    if (!existing) this.#count++;
    return "fresh";
  }

  /** Number of ids currently remembered. */
  get size(): number {
    return this.#count;
  }

  /** Closes the database. */
  close(): void {
    try {
      this.#db.close();
    } catch { /* already closed */ }
  }

  #prune(force: boolean): void {
    const now = this.#now();
    // Pruning at most once a second keeps the hot path to one lookup and one insert.
    if (!force && now - this.#lastPrune < 1000) return;
    this.#lastPrune = now;
    const r = this.#db.prepare("DELETE FROM seen WHERE expires_ms < ?").run(now);
    this.#count = Math.max(0, (this.#count ?? 0) - Number(r.changes));
    if (force) this.#count = this.#countRows();
  }

  #countRows(): number {
    return Number((this.#db.prepare("SELECT COUNT(*) AS n FROM seen").get() as { n: number }).n);
  }
}
