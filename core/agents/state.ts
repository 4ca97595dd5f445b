/**
 * Durable agent state under data/state (SQLite, WAL): instruction lifecycle for idempotency and
 * crash recovery, the sensor's dedup window, and small key/values such as the last relay id.
 * Every table is bounded: finished instructions by count, dedup keys by age and count.
 *
 * The database opens with {@linkcode AgentState.open}, which imports `node:sqlite` (about 1 MB of
 * an idle process): the agents open it at start when it exists (state of an earlier run to resume)
 * and otherwise with the first write that needs it. Until then it holds nothing, and its reads
 * answer so.
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { onceUntilFailure } from "../async/mod.ts";
import { joinPath, lateImport, lockWriter, refuseNewerSchema, stampSchema } from "../config/mod.ts";
import { PRIVATE_FILE_MODE } from "./layout.ts";
import type { ComponentHealth } from "./health.ts";

/** Where an instruction is in its life. */
export type InstructionState = "queued" | "running" | "completed" | "failed";

/** A stored instruction row. */
export interface InstructionRow {
  id: string;
  state: InstructionState;
  source: string;
  instruction: Record<string, unknown>;
  result?: Record<string, unknown>;
  reported: boolean;
  started_at?: number;
  finished_at?: number;
}

/** What {@linkcode AgentState.claim} found. */
export type ClaimOutcome =
  | { kind: "new" }
  | { kind: "active"; state: InstructionState }
  | { kind: "done"; row: InstructionRow };

/**
 * The schema version of an agent's state file (SQLite's user_version; files from before the
 * stamp read 0, of the same tables).
 */
export const AGENT_STATE_SCHEMA_VERSION = 1;

/** Default of how long a write waits for another process holding the database. */
export const DEFAULT_STATE_BUSY_TIMEOUT_MS = 5_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS instructions (
  id TEXT PRIMARY KEY, state TEXT NOT NULL, source TEXT NOT NULL, instruction TEXT NOT NULL,
  result TEXT, reported INTEGER NOT NULL DEFAULT 0, started_at INTEGER, finished_at INTEGER,
  created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS instructions_finished ON instructions(finished_at);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dedup (key TEXT PRIMARY KEY, seen_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dedup_seen ON dedup(seen_at);
`;

type Row = Record<string, unknown>;

/** What a finished instruction keeps: the fields its result's report names. */
const REPORTED_FIELDS = ["id", "plugin_id", "instruction_type", "correlation_id"] as const;

/**
 * Migration of a file from before the version stamp (0). Releases before the trimming in
 * {@linkcode AgentState.finish} kept a finished instruction whole, input and plugin configuration
 * (personal data, credentials) included: each is cut to what its report names. Releases before
 * the digest kept a sensor's dedup key as its event's type and source in text: such a key can
 * never match an event again (keys are SHA-256 hex now), so it is deleted. One transaction;
 * `secure_delete` overwrites the space both held.
 */
function bringForward(db: DatabaseSync): void {
  const rows = db.prepare(
    "SELECT id, instruction FROM instructions WHERE state IN ('completed','failed')",
  ).all() as { id: string; instruction: string }[];
  const set = db.prepare("UPDATE instructions SET instruction = ? WHERE id = ?");
  db.exec("BEGIN IMMEDIATE");
  try {
    for (const r of rows) {
      let inst: Record<string, unknown>;
      try {
        inst = JSON.parse(r.instruction) as Record<string, unknown>;
      } catch {
        inst = { id: r.id }; // not JSON: nothing of it is reported, so nothing is kept
      }
      const kept: Record<string, unknown> = {};
      for (const k of REPORTED_FIELDS) if (inst?.[k] !== undefined) kept[k] = inst[k];
      const text = JSON.stringify(kept);
      if (text !== r.instruction) set.run(text, r.id);
    }
    db.exec("DELETE FROM dedup WHERE length(key) != 64 OR key GLOB '*[^0-9a-f]*'");
    db.exec("COMMIT");
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}

function toRow(r: Row): InstructionRow {
  return {
    id: String(r.id),
    state: r.state as InstructionState,
    source: String(r.source),
    instruction: JSON.parse(String(r.instruction)),
    result: r.result ? JSON.parse(String(r.result)) : undefined,
    reported: r.reported === 1,
    started_at: r.started_at === null ? undefined : Number(r.started_at),
    finished_at: r.finished_at === null ? undefined : Number(r.finished_at),
  };
}

/** The module that opens the database, imported with the first open. */
type Sqlite = typeof import("node:sqlite");

/** The open database and its prepared statements. */
interface Open {
  db: DatabaseSync;
  st: Record<string, StatementSync>;
}

/** The agent's state database (`<stateDir>/agent.db`), opened by {@linkcode AgentState.open}. */
export class AgentState {
  readonly file: string;
  #open: Open | undefined;
  /** The writer's lock on {@linkcode file}, taken by {@linkcode lock}. */
  #lock: Deno.FsFile | undefined;
  readonly #opening = onceUntilFailure(() => this.#doOpen());
  #closed = false;
  /** The last write that failed (SQLite's reason, which names no path); cleared by one that works. */
  #failure: { at: string; reason: string } | undefined;
  #failures = 0;

  /** A store for `<stateDir>/agent.db`; nothing is read or created before {@linkcode open}. */
  constructor(
    stateDir: string,
    readonly opts: {
      history: number;
      dedupMaxEntries?: number;
      /**
       * How long a write waits for another process holding the database (`agent.state_busy_timeout`;
       * SQLite waits synchronously, so the agent waits with it).
       */
      busyTimeoutMs?: number;
    },
  ) {
    this.file = joinPath(stateDir, "agent.db");
  }

  /**
   * Whether the database file holds state of an earlier run, without opening it (the empty file
   * {@linkcode lock} creates holds none).
   */
  exists(): boolean {
    try {
      return Deno.statSync(this.file).size > 0;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    }
  }

  /**
   * Takes the writer's lock on the database file (creating it empty, owner-only), held until
   * {@linkcode close}. An action agent takes it alone (`shared: false`): a second agent on the
   * same state would resume the first one's running instructions as crashed, claim its relay
   * position and prune what it still reports. Sensors share it (`shared: true`): their one write,
   * the de-duplication, is one atomic statement, so sensors sharing a state folder publish an
   * event once; an action agent and they keep each other out. Once only; no SQLite is loaded.
   * @throws {FileInUseError} when another process (or another store in this one) holds it
   */
  lock(shared = false): void {
    if (this.#lock || this.#closed) return;
    this.#lock = lockWriter(this.file, !shared);
    Deno.chmodSync(this.file, PRIVATE_FILE_MODE);
  }

  /** Whether {@linkcode open} has completed. */
  get isOpen(): boolean {
    return this.#open !== undefined;
  }

  /**
   * Opens (creating) the database; once only, and at once when it is open. A failure (a full or
   * read-only disk) is remembered on `/health` and thrown; the next call tries again.
   * @throws {Error} when the store was closed, or SQLite cannot open the file.
   */
  open(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("agent state is closed"));
    return this.#opening();
  }

  async #doOpen(): Promise<void> {
    const { DatabaseSync } = await lateImport<Sqlite>("node:sqlite", import.meta.url);
    if (this.#closed) throw new Error("agent state is closed");
    this.#write(() => {
      const db = new DatabaseSync(this.file);
      try {
        refuseNewerSchema(db, this.file, AGENT_STATE_SCHEMA_VERSION); // before anything is written
        this.#open = {
          db,
          st: AgentState.#prepare(db, this.opts.busyTimeoutMs ?? DEFAULT_STATE_BUSY_TIMEOUT_MS),
        };
      } catch (err) {
        if (db.isOpen) db.close();
        throw err;
      }
      Deno.chmodSync(this.file, PRIVATE_FILE_MODE);
    });
  }

  static #prepare(db: DatabaseSync, busyTimeoutMs: number): Record<string, StatementSync> {
    db.exec(`PRAGMA busy_timeout=${Math.round(busyTimeoutMs)}; PRAGMA journal_mode=WAL;`);
    db.exec("PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;");
    const found = db.prepare("PRAGMA user_version").get() as { user_version?: number } | undefined;
    db.exec(SCHEMA);
    if (Number(found?.user_version ?? 0) < 1) bringForward(db);
    stampSchema(db, AGENT_STATE_SCHEMA_VERSION);
    const p = (sql: string) => db.prepare(sql);
    return {
      claim: p(`INSERT INTO instructions(id, state, source, instruction, created_at)
                VALUES (?, 'queued', ?, ?, ?) ON CONFLICT(id) DO NOTHING`),
      get: p("SELECT * FROM instructions WHERE id = ?"),
      running: p("UPDATE instructions SET state = 'running', started_at = ? WHERE id = ?"),
      finish: p(`UPDATE instructions SET state = ?, result = ?, finished_at = ?, reported = 0,
                 instruction = ? WHERE id = ?`),
      reported: p("UPDATE instructions SET reported = 1 WHERE id = ?"),
      reportAgain: p(`UPDATE instructions SET reported = 0
                      WHERE id = ? AND state IN ('completed','failed')`),
      byState: p("SELECT * FROM instructions WHERE state = ? ORDER BY created_at"),
      unreported: p(`SELECT * FROM instructions WHERE state IN ('completed','failed')
                     AND reported = 0 ORDER BY finished_at LIMIT ?`),
      prune: p(`DELETE FROM instructions WHERE id IN (SELECT id FROM instructions
                WHERE state IN ('completed','failed') AND reported = 1
                ORDER BY finished_at DESC LIMIT -1 OFFSET ?)`),
      kvGet: p("SELECT value FROM kv WHERE key = ?"),
      kvSet: p(`INSERT INTO kv(key, value) VALUES (?, ?)
                ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
      dedup: p(`INSERT INTO dedup(key, seen_at) VALUES (?, ?)
                ON CONFLICT(key) DO UPDATE SET seen_at = excluded.seen_at
                WHERE dedup.seen_at <= ?`),
      dedupForget: p("DELETE FROM dedup WHERE key = ? AND seen_at = ?"),
      dedupPruneAge: p("DELETE FROM dedup WHERE seen_at <= ?"),
      dedupPruneCount: p(`DELETE FROM dedup WHERE key IN (SELECT key FROM dedup
                          ORDER BY seen_at DESC LIMIT -1 OFFSET ?)`),
      dedupCount: p("SELECT COUNT(*) AS n FROM dedup"),
    };
  }

  /**
   * The statements of the open database.
   * @throws {Error} before {@linkcode open}: a write path that forgot to open the store.
   */
  get #st(): Record<string, StatementSync> {
    if (!this.#open) throw new Error("agent state is not open (AgentState.open() first)");
    return this.#open.st;
  }

  /**
   * Records an instruction as queued unless its id is known. An id already finished is `done`
   * (with its stored result, to re-report); one queued or running is `active`.
   */
  claim(id: string, source: string, instruction: Record<string, unknown>): ClaimOutcome {
    const r = this.#write(() =>
      this.#st.claim.run(id, source, JSON.stringify(instruction), Date.now())
    );
    if (Number(r.changes) === 1) return { kind: "new" };
    const row = this.get(id);
    if (!row) return { kind: "new" };
    if (row.state === "completed" || row.state === "failed") return { kind: "done", row };
    return { kind: "active", state: row.state };
  }

  /** One instruction by id. */
  get(id: string): InstructionRow | undefined {
    if (!this.#open) return undefined;
    const r = this.#st.get.get(id) as Row | undefined;
    return r ? toRow(r) : undefined;
  }

  /** Marks an instruction as running (so a crash now is detected on restart). */
  markRunning(id: string): void {
    this.#write(() => this.#st.running.run(Date.now(), id));
  }

  /**
   * Stores the final state and result body; it stays unreported until {@linkcode markReported}.
   * The instruction keeps only what its result's report names (id, plugin, type, correlation id):
   * its input and plugin configuration, which may hold personal data or credentials, are dropped
   * once nothing can run it again.
   */
  finish(id: string, state: "completed" | "failed", result: Record<string, unknown>): void {
    this.#write(() => {
      const row = this.#st.get.get(id) as Row | undefined;
      const kept: Record<string, unknown> = {};
      if (row) {
        const inst = JSON.parse(String(row.instruction)) as Record<string, unknown>;
        for (const k of REPORTED_FIELDS) if (inst[k] !== undefined) kept[k] = inst[k];
      }
      this.#st.finish.run(state, JSON.stringify(result), Date.now(), JSON.stringify(kept), id);
    });
  }

  /** Marks a result as delivered, then prunes finished history beyond the bound. */
  markReported(id: string): void {
    this.#write(() => {
      this.#st.reported.run(id);
      this.#st.prune.run(this.opts.history);
    });
  }

  /** Marks a finished instruction's result for delivery again (by the next sweep). */
  reportAgain(id: string): void {
    this.#write(() => this.#st.reportAgain.run(id));
  }

  /** Instructions in one state, oldest first. */
  inState(state: InstructionState): InstructionRow[] {
    if (!this.#open) return [];
    return (this.#st.byState.all(state) as Row[]).map(toRow);
  }

  /** Finished instructions whose result has not been delivered yet. */
  unreported(limit = 100): InstructionRow[] {
    if (!this.#open) return [];
    return (this.#st.unreported.all(limit) as Row[]).map(toRow);
  }

  /** A stored string value. */
  getValue(key: string): string | undefined {
    if (!this.#open) return undefined;
    const r = this.#st.kvGet.get(key) as Row | undefined;
    return r ? String(r.value) : undefined;
  }

  /** Stores a string value. */
  setValue(key: string, value: string): void {
    this.#write(() => this.#st.kvSet.run(key, value));
  }

  /**
   * Atomically decides whether `key` is new within `windowMs` (and records it if so). One
   * statement, so two processes sharing this database cannot both pass for the same key.
   */
  firstInWindow(key: string, windowMs: number, now = Date.now()): boolean {
    const r = this.#write(() => this.#st.dedup.run(key, now, now - windowMs));
    return Number(r.changes) === 1;
  }

  /**
   * Forgets the key {@linkcode firstInWindow} recorded at `seenAt` (an event that was not
   * delivered), so the next report of that event is new. A key recorded again since (another
   * sensor sharing this database, or a later report) is kept.
   */
  forgetDedup(key: string, seenAt: number): void {
    if (!this.#open) return; // nothing was recorded
    this.#write(() => this.#st.dedupForget.run(key, seenAt));
  }

  /** Drops dedup keys older than the window and beyond the count bound (once open). */
  pruneDedup(windowMs: number, now = Date.now()): void {
    if (!this.#open) return; // nothing was added since start: pruned when it opens
    const max = this.opts.dedupMaxEntries;
    this.#write(() => {
      this.#st.dedupPruneAge.run(now - windowMs);
      if (max !== undefined) this.#st.dedupPruneCount.run(max);
    });
  }

  /** Number of dedup keys held. */
  dedupSize(): number {
    if (!this.#open) return 0;
    return Number((this.#st.dedupCount.get() as Row).n);
  }

  /**
   * The store as `/health` shows it: not ok from a write that failed (a full or read-only disk, a
   * lock held too long) until one succeeds, with SQLite's reason.
   */
  health(): ComponentHealth {
    const f = this.#failure;
    return {
      ok: f === undefined,
      configured: true,
      open: this.isOpen,
      failures: this.#failures,
      ...(f ? { reason: `last write failed: ${f.reason}`, failed_at: f.at } : {}),
    };
  }

  /** Runs one write, remembering whether it failed; rethrows its error. */
  #write<T>(fn: () => T): T {
    try {
      const out = fn();
      this.#failure = undefined;
      return out;
    } catch (err) {
      this.#failures++;
      // SQLite names the file when it cannot open it: /health shows the cause, never a path.
      const first = err instanceof Error ? err.message.split("\n")[0] : "failed";
      const reason = first.replaceAll(`: ${this.file}`, "").replaceAll(this.file, "agent.db");
      this.#failure = { at: new Date().toISOString(), reason: reason.slice(0, 200) };
      throw err;
    }
  }

  /** Closes the database (and refuses to open it from now on). */
  close(): void {
    this.#closed = true;
    try {
      this.#open?.db.close();
    } catch { /* already closed */ }
    this.#lock?.close();
    this.#lock = undefined;
  }
}
