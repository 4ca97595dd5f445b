/**
 * SQLite topic log (node:sqlite, WAL): history, sequence numbers and the epoch survive a
 * restart, so clients resume across it with no gap and no duplicate. Per-topic facts are cached
 * in memory and written through, so reads never scan the whole table.
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { openLocked, refuseNewerSchema, stampSchema } from "../config/mod.ts";
import { UnavailableError } from "../errors/mod.ts";
import { newEpoch } from "./position.ts";
import {
  dataParts,
  eventData,
  type FreedSnapshot,
  FreedTopics,
  KEYED_DATA_SQL,
  type KeyedEvent,
  mergeRuns,
  NOT_WRITTEN,
  type RelayStore,
  type Retention,
  type StoredEvent,
  type TopicInfo,
  TopicQuota,
} from "./store.ts";
import type { TopicFilter } from "../topic/mod.ts";

/**
 * The schema version this relay writes (SQLite's user_version; files from before the stamp read
 * 0 and are brought forward by {@linkcode migrate}).
 */
export const RELAY_SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, ts_ms INTEGER NOT NULL, data TEXT NOT NULL,
  publisher TEXT);
CREATE INDEX IF NOT EXISTS events_by_topic ON events (topic, seq);
CREATE TABLE IF NOT EXISTS topics (
  topic TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, truncated_through INTEGER NOT NULL,
  creator TEXT);
CREATE TABLE IF NOT EXISTS freed_topics (topic TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
`;

interface TopicState {
  /** The publisher of the topic's first event (undefined: anonymous, or not known). */
  creator: string | undefined;
  count: number;
  lastSeq: number;
  oldestSeq: number | undefined;
  truncatedThrough: number;
}

type Row = { seq: number; topic: string; ts_ms: number; data: string; publisher: string | null };

function toEvent(r: Row): StoredEvent {
  const e: StoredEvent = {
    seq: Number(r.seq),
    topic: r.topic,
    tsMs: Number(r.ts_ms),
    data: r.data,
  };
  if (r.publisher !== null) e.publisher = r.publisher;
  return e;
}

/** True when `table` has a column `name`. */
function hasColumn(db: DatabaseSync, table: string, name: string): boolean {
  const cols = db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>;
  return cols.some((c) => c.name === name);
}

/**
 * Brings a database written by an older relay up to the current schema: events gained a
 * `publisher` column (NULL for events published before it existed, as for anonymous ones), and
 * topics a `creator` (the publisher of the topic's first event, counted against
 * `max_topics_per_principal`): a topic from before it is credited to the publisher of its oldest
 * retained event, or to anonymous publishes when none is retained.
 */
function migrate(db: DatabaseSync): void {
  if (!hasColumn(db, "events", "publisher")) {
    db.exec("ALTER TABLE events ADD COLUMN publisher TEXT");
  }
  if (!hasColumn(db, "topics", "creator")) {
    db.exec("BEGIN");
    try {
      db.exec("ALTER TABLE topics ADD COLUMN creator TEXT");
      db.exec(
        "UPDATE topics SET creator = (SELECT publisher FROM events " +
          "WHERE events.topic = topics.topic ORDER BY seq LIMIT 1)",
      );
      db.exec("COMMIT");
    } catch (err) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw err;
    }
  }
}

/** A SQLite-backed {@linkcode RelayStore} at `path`. */
export class SqliteStore implements RelayStore {
  readonly epoch: string;
  #seq = 0;
  #writeError: string | undefined;
  readonly #db: DatabaseSync;
  readonly #topics = new Map<string, TopicState>();
  /** Topics per creator, counted from the topics table at open. */
  readonly #quota: TopicQuota;
  /** Topics freed (their events all aged out), as the freed_topics table has them. */
  readonly #freed: FreedTopics;
  readonly #insert: StatementSync;
  readonly #freeTopic: StatementSync;
  readonly #rememberFreed: StatementSync;
  readonly #forgetFreed: StatementSync;
  readonly #setForgotten: StatementSync;
  readonly #upsertTopic: StatementSync;
  readonly #readTopic: StatementSync;
  readonly #oldest: StatementSync;
  readonly #evictThrough: StatementSync;
  readonly #nthNewest: StatementSync;
  /** The writer's lock on the file: one relay process sequences a topic log. */
  readonly #lock: Deno.FsFile | undefined;

  /** @throws {FileInUseError} when another process (or store) writes this file */
  constructor(path: string, private readonly retention: Retention) {
    this.#quota = new TopicQuota(retention);
    ({ lock: this.#lock, store: this.#db } = openLocked(path, () => {
      const db = new DatabaseSync(path);
      refuseNewerSchema(db, path, RELAY_SCHEMA_VERSION); // before anything is written
      return db;
    }));
    this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    this.#db.exec(SCHEMA);
    migrate(this.#db);
    stampSchema(this.#db, RELAY_SCHEMA_VERSION);
    const meta = this.#db.prepare("SELECT value FROM meta WHERE key = 'epoch'").get() as
      | { value: string }
      | undefined;
    this.epoch = meta?.value ?? newEpoch();
    if (!meta) {
      this.#db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?)").run(this.epoch);
    }
    this.#insert = this.#db.prepare(
      "INSERT INTO events (seq, topic, ts_ms, data, publisher) VALUES (?, ?, ?, ?, ?)",
    );
    this.#upsertTopic = this.#db.prepare(
      `INSERT INTO topics (topic, last_seq, truncated_through, creator) VALUES (?, ?, ?, ?)
       ON CONFLICT (topic) DO UPDATE SET last_seq = excluded.last_seq,
       truncated_through = excluded.truncated_through`,
    );
    this.#readTopic = this.#db.prepare(
      "SELECT seq, topic, ts_ms, data, publisher FROM events " +
        "WHERE topic = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
    );
    this.#oldest = this.#db.prepare(
      "SELECT seq, ts_ms FROM events WHERE topic = ? ORDER BY seq LIMIT 1",
    );
    this.#evictThrough = this.#db.prepare("DELETE FROM events WHERE topic = ? AND seq <= ?");
    this.#nthNewest = this.#db.prepare(
      "SELECT seq FROM events WHERE topic = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
    );
    this.#freeTopic = this.#db.prepare("DELETE FROM topics WHERE topic = ?");
    this.#rememberFreed = this.#db.prepare(
      "INSERT OR REPLACE INTO freed_topics (topic, last_seq) VALUES (?, ?)",
    );
    this.#forgetFreed = this.#db.prepare("DELETE FROM freed_topics WHERE topic = ?");
    this.#setForgotten = this.#db.prepare(
      "INSERT OR REPLACE INTO meta (key, value) VALUES ('forgotten_through', ?)",
    );
    const forgotten = this.#db.prepare(
      "SELECT value FROM meta WHERE key = 'forgotten_through'",
    ).get() as { value: string } | undefined;
    this.#freed = new FreedTopics(retention.maxTopics, Number(forgotten?.value ?? 0));
    this.#seq = this.#freed.forgottenThrough;
    this.#load();
  }

  #load(): void {
    const topics = this.#db.prepare(
      "SELECT topic, last_seq, truncated_through, creator FROM topics",
    ).all() as Array<
      { topic: string; last_seq: number; truncated_through: number; creator: string | null }
    >;
    const counts = new Map(
      (this.#db.prepare(
        "SELECT topic, COUNT(*) AS n, MIN(seq) AS oldest FROM events GROUP BY topic",
      )
        .all() as Array<{ topic: string; n: number; oldest: number }>).map((r) => [r.topic, r]),
    );
    for (const t of topics) {
      const c = counts.get(t.topic);
      const creator = t.creator ?? undefined;
      this.#quota.add(creator);
      this.#topics.set(t.topic, {
        creator,
        count: Number(c?.n ?? 0),
        lastSeq: Number(t.last_seq),
        oldestSeq: c ? Number(c.oldest) : undefined,
        truncatedThrough: Number(t.truncated_through),
      });
      this.#seq = Math.max(this.#seq, Number(t.last_seq));
    }
    const freed = this.#db.prepare("SELECT topic, last_seq FROM freed_topics ORDER BY last_seq")
      .all() as Array<{ topic: string; last_seq: number }>;
    const forget: string[] = [];
    for (const f of freed) {
      const gone = this.#freed.add(f.topic, Number(f.last_seq));
      if (gone !== undefined) forget.push(gone);
      this.#seq = Math.max(this.#seq, Number(f.last_seq));
    }
    // Topics left without events (by an older relay, which kept them) are freed now; so are
    // freed topics past max_topics (a lower bound than when they were freed). A database that
    // cannot be written now (a full disk) opens all the same: they stay as they are until it can.
    const empty = [...this.#topics].filter(([, s]) => s.count === 0);
    if (empty.length > 0) {
      try {
        this.#transaction(() => {
          for (const [topic, s] of empty) {
            this.#freeTopic.run(topic);
            this.#rememberFreed.run(topic, s.lastSeq);
          }
        });
        for (const [topic, s] of empty) {
          const gone = this.#freeState(topic, s);
          if (gone !== undefined) forget.push(gone);
        }
      } catch { /* kept, and counted, until the next open */ }
    }
    if (forget.length === 0) return;
    try {
      this.#transaction(() => {
        for (const topic of forget) this.#forgetFreed.run(topic);
        this.#setForgotten.run(String(this.#freed.forgottenThrough));
      });
    } catch { /* forgotten here already; the rows go at the next open */ }
  }

  /** Runs `fn` in one transaction (rolled back when it throws). */
  #transaction(fn: () => void): void {
    this.#db.exec("BEGIN");
    try {
      fn();
      this.#db.exec("COMMIT");
    } catch (err) {
      // After a full disk SQLite has rolled back already; the error to report is this one.
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  /**
   * The rows of freeing `topic` (inside a transaction): its topics row goes, freed_topics
   * remembers it, and the oldest freed topic past max_topics is forgotten.
   */
  #freeRow(topic: string, s: TopicState): void {
    this.#freeTopic.run(topic);
    const out = this.#freed.evicts(topic);
    if (out) {
      this.#forgetFreed.run(out.topic);
      this.#setForgotten.run(String(Math.max(this.#freed.forgottenThrough, out.lastSeq)));
    }
    this.#rememberFreed.run(topic, s.lastSeq);
  }

  /**
   * Frees `topic` in memory once its rows are written: its creator's share and `max_topics` count
   * it no more. Returns the freed topic forgotten to make room, if any.
   */
  #freeState(topic: string, s: TopicState): string | undefined {
    this.#topics.delete(topic);
    this.#quota.remove(s.creator);
    return this.#freed.add(topic, s.lastSeq);
  }

  get lastSeq(): number {
    return this.#seq;
  }

  /** Why the last append could not be written (a full or read-only disk), until one is. */
  get writeError(): string | undefined {
    return this.#writeError;
  }

  append(
    topic: string,
    eventId: string,
    payloadJson: string,
    nowMs: number,
    publisher?: string,
  ): StoredEvent {
    let state = this.#topics.get(topic);
    const created = !state;
    if (created) this.#quota.check(publisher);
    const seq = this.#seq + 1;
    const event: StoredEvent = {
      seq,
      topic,
      tsMs: nowMs,
      data: eventData(eventId, seq, nowMs, topic, payloadJson, publisher),
      ...(publisher === undefined ? {} : { publisher }),
    };
    // A freed topic created again: everything it had was evicted.
    const wasFreed = created ? this.#freed.get(topic) : undefined;
    state ??= {
      creator: publisher,
      count: 0,
      lastSeq: 0,
      oldestSeq: undefined,
      truncatedThrough: wasFreed ?? 0,
    };
    const next = {
      ...state,
      count: state.count + 1,
      lastSeq: seq,
      oldestSeq: state.oldestSeq ?? seq,
    };
    this.#db.exec("BEGIN");
    try {
      this.#insert.run(seq, topic, nowMs, event.data, publisher ?? null);
      if (next.count > this.retention.maxEventsPerTopic) {
        const keepFrom = this.#nthNewest.get(topic, this.retention.maxEventsPerTopic - 1) as {
          seq: number;
        };
        this.#evictBefore(topic, next, Number(keepFrom.seq));
      }
      this.#upsertTopic.run(topic, seq, next.truncatedThrough, next.creator ?? null);
      if (wasFreed !== undefined) this.#forgetFreed.run(topic);
      this.#db.exec("COMMIT");
    } catch (err) {
      throw this.#notWritten(err);
    }
    if (created) this.#quota.add(publisher);
    if (wasFreed !== undefined) this.#freed.take(topic);
    this.#writeError = undefined;
    this.#seq = seq;
    this.#topics.set(topic, next);
    return event;
  }

  /**
   * Rolls back what a failed append left open (SQLite has already rolled back after a full
   * disk) and says why it failed: a 503 to retry later, with SQLite's reason (which names no
   * path), so an event is never acknowledged unless it was written.
   */
  #notWritten(err: unknown): UnavailableError {
    if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
    const why = err instanceof Error ? err.message.split("\n")[0].slice(0, 200) : String(err);
    this.#writeError = why;
    return new UnavailableError(`${NOT_WRITTEN}${why}`, 1, { cause: err });
  }

  /** Deletes a topic's events below `keepFrom` and updates `state` (inside a transaction). */
  #evictBefore(topic: string, state: TopicState, keepFrom: number | undefined): void {
    const through = keepFrom === undefined ? state.lastSeq : keepFrom - 1;
    const removed = Number(this.#evictThrough.run(topic, through).changes);
    state.count -= removed;
    state.truncatedThrough = Math.max(state.truncatedThrough, through);
    const oldest = this.#oldest.get(topic) as { seq: number } | undefined;
    state.oldestSeq = oldest ? Number(oldest.seq) : undefined;
  }

  #matching(filter: TopicFilter): Array<[string, TopicState]> {
    if (!filter.hasWildcard) {
      return [...filter.exact].flatMap((t) => {
        const s = this.#topics.get(t);
        return s ? [[t, s] as [string, TopicState]] : [];
      });
    }
    return [...this.#topics].filter(([t]) => filter.matches(t));
  }

  read(filter: TopicFilter, afterSeq: number, uptoSeq: number, limit: number): StoredEvent[] {
    const runs = this.#matching(filter)
      .filter(([, s]) => s.count > 0 && s.lastSeq > afterSeq)
      .map(([t]) => (this.#readTopic.all(t, afterSeq, uptoSeq, limit) as Row[]).map(toEvent));
    return mergeRuns(runs, limit);
  }

  truncatedAfter(filter: TopicFilter, afterSeq: number): boolean {
    return this.#matching(filter).some(([, s]) => s.truncatedThrough > afterSeq) ||
      this.#freed.truncatedAfter(filter, afterSeq);
  }

  truncation(filter: TopicFilter): Map<string, number> {
    const out = new Map(this.#matching(filter).map(([t, s]) => [t, s.truncatedThrough]));
    return this.#freed.addTruncation(filter, out);
  }

  oldestSeq(filter: TopicFilter): number | undefined {
    let oldest: number | undefined;
    for (const [, s] of this.#matching(filter)) {
      if (s.oldestSeq !== undefined && (oldest === undefined || s.oldestSeq < oldest)) {
        oldest = s.oldestSeq;
      }
    }
    return oldest;
  }

  freed(): FreedSnapshot {
    return { topics: this.#freed.entries(), forgottenThrough: this.#freed.forgottenThrough };
  }

  topics(): TopicInfo[] {
    return [...this.#topics].map(([topic, s]) => ({
      topic,
      count: s.count,
      lastSeq: s.lastSeq,
      oldestSeq: s.oldestSeq,
      truncatedThrough: s.truncatedThrough,
    }));
  }

  /**
   * Walks the events from the newest back to the first stored before `sinceMs` (the relay's own
   * clock wrote `ts_ms` as it appended, so the walk stops at the window's start) and reads the
   * data of keyed ones only.
   */
  keyedSince(sinceMs: number, limit: number): KeyedEvent[] {
    const out: KeyedEvent[] = [];
    if (limit <= 0) return out;
    const rows = this.#db.prepare(
      "SELECT seq, ts_ms, topic, publisher, CASE WHEN " + KEYED_DATA_SQL +
        " THEN data END AS data FROM events ORDER BY seq DESC",
    ).iterate() as Iterable<
      { seq: number; ts_ms: number; topic: string; publisher: string | null; data: string | null }
    >;
    for (const r of rows) {
      const tsMs = Number(r.ts_ms);
      if (tsMs < sinceMs) break;
      if (r.data === null) continue;
      const seq = Number(r.seq);
      const parts = dataParts(r.data, seq, tsMs, r.topic, r.publisher ?? undefined);
      if (parts === undefined) continue;
      out.push({ ...parts, seq, tsMs, topic: r.topic });
      if (out.length >= limit) break;
    }
    return out.reverse();
  }

  expire(nowMs: number): number {
    if (this.retention.maxAgeMs <= 0) return 0;
    const cutoff = nowMs - this.retention.maxAgeMs;
    const newest = this.#db.prepare(
      "SELECT MAX(seq) AS seq FROM events WHERE topic = ? AND ts_ms < ?",
    );
    let n = 0;
    for (const [topic, s] of this.#topics) {
      if (s.count === 0) continue;
      const first = this.#oldest.get(topic) as { seq: number; ts_ms: number } | undefined;
      if (!first || Number(first.ts_ms) >= cutoff) continue;
      const last = newest.get(topic, cutoff) as { seq: number | null };
      if (last.seq === null) continue;
      const next = { ...s };
      const before = next.count;
      this.#transaction(() => {
        this.#evictBefore(topic, next, Number(last.seq) + 1);
        if (next.count > 0) {
          this.#upsertTopic.run(topic, next.lastSeq, next.truncatedThrough, next.creator ?? null);
        } else this.#freeRow(topic, next);
      });
      if (next.count > 0) this.#topics.set(topic, next);
      else this.#freeState(topic, next);
      n += before - next.count;
    }
    return n;
  }

  close(): void {
    if (this.#db.isOpen) {
      this.#db.close();
      this.#lock?.close();
    }
  }
}
