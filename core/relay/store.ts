/**
 * The relay's topic log: every published event gets the next sequence number of one relay-wide
 * sequence, and each topic keeps a bounded history (by count and by age); a topic whose events
 * all aged out is freed ({@linkcode FreedTopics}). Stores sit behind
 * {@linkcode RelayStore} (memory, SQLite) or {@linkcode RemoteRelayStore} (NATS JetStream),
 * so the engines are interchangeable.
 * @module
 */
import type { TopicFilter } from "../topic/mod.ts";

/** One retained event. `data` is the exact JSON sent as the SSE `data:` line. */
export interface StoredEvent {
  seq: number;
  topic: string;
  /** Publish time, ms since the epoch (for age retention). */
  tsMs: number;
  data: string;
  /** Who published it, as the relay authenticated them (absent: anonymous publish). */
  publisher?: string;
}

/** Per-topic facts for `GET /topics`. */
export interface TopicInfo {
  topic: string;
  /** Events retained now. */
  count: number;
  /** Sequence of the newest event ever published to the topic. */
  lastSeq: number;
  /** Sequence of the oldest retained event, when any is retained. */
  oldestSeq: number | undefined;
  /** Highest sequence evicted from this topic (0 when nothing was). */
  truncatedThrough: number;
}

/** Retention bounds. */
export interface Retention {
  /** Events kept per topic. */
  maxEventsPerTopic: number;
  /** Events older than this are evicted (ms); 0 disables age retention. */
  maxAgeMs: number;
  /** Distinct topics the store accepts; publishing to one more is refused. */
  maxTopics: number;
  /**
   * Distinct topics one authenticated publisher may create; publishing to one more is refused,
   * publishing to an existing topic never is. Anonymous publishes (an open relay, where no one can
   * be told apart) are bounded by {@linkcode maxTopics} alone. Absent:
   * {@linkcode DEFAULT_MAX_TOPICS_PER_PRINCIPAL}.
   */
  maxTopicsPerPrincipal?: number;
}

/** Default events kept per topic (`compat: iatp`). */
export const DEFAULT_MAX_EVENTS_PER_TOPIC = 1000;
/** Events kept per topic by the IG&S relay, the default under `compat: upstream`. */
export const UPSTREAM_MAX_EVENTS_PER_TOPIC = 50;
/** Default age bound: 24 hours. */
export const DEFAULT_MAX_AGE_MS = 24 * 3_600_000;
/** Default bound on distinct topics. */
export const DEFAULT_MAX_TOPICS = 10_000;

/** Default bound on the distinct topics one publisher creates. */
export const DEFAULT_MAX_TOPICS_PER_PRINCIPAL = 1_000;

/** The setting a {@linkcode TopicLimitError} names. */
export type TopicLimitSetting = "max_topics" | "max_topics_per_principal";

/**
 * Thrown when a publish would create one topic more than {@linkcode Retention.maxTopics}
 * allows in all, or than {@linkcode Retention.maxTopicsPerPrincipal} allows its publisher.
 */
export class TopicLimitError extends Error {
  override name = "TopicLimitError";
  constructor(
    readonly setting: TopicLimitSetting,
    readonly limit: number,
    options?: ErrorOptions,
  ) {
    super(
      setting === "max_topics"
        ? `topic limit of ${limit} reached (max_topics)`
        : `topic limit of ${limit} per publisher reached (max_topics_per_principal)`,
      options,
    );
  }
}

/**
 * Who created each topic, counted per creator (`undefined`: anonymous publishes, one bucket),
 * and the checks of both topic bounds before a topic is created. Every store keeps one, so the
 * bounds mean the same on each.
 */
export class TopicQuota {
  readonly #perCreator = new Map<string | undefined, number>();
  #total = 0;
  readonly #maxTopics: number;
  readonly #perPrincipal: number;

  constructor(retention: Retention) {
    this.#maxTopics = retention.maxTopics;
    this.#perPrincipal = retention.maxTopicsPerPrincipal ?? DEFAULT_MAX_TOPICS_PER_PRINCIPAL;
  }

  /** Topics counted. */
  get total(): number {
    return this.#total;
  }

  /** Topics counted for `creator`. */
  createdBy(creator: string | undefined): number {
    return this.#perCreator.get(creator) ?? 0;
  }

  /**
   * Refuses one topic more for `creator` (`pending`: topics being created, not counted yet).
   * @throws {TopicLimitError} naming the bound it would pass
   */
  check(creator: string | undefined, pending: { total: number; byCreator: number } = NONE): void {
    if (this.#total + pending.total >= this.#maxTopics) {
      throw new TopicLimitError("max_topics", this.#maxTopics);
    }
    // Anonymous publishes come from an open relay, where no publisher can be told apart: a
    // share of theirs would only be a lower max_topics.
    if (
      creator !== undefined && this.createdBy(creator) + pending.byCreator >= this.#perPrincipal
    ) {
      throw new TopicLimitError("max_topics_per_principal", this.#perPrincipal);
    }
  }

  /** Counts one topic created by `creator`. */
  add(creator: string | undefined): void {
    this.#perCreator.set(creator, this.createdBy(creator) + 1);
    this.#total++;
  }

  /** Stops counting one topic created by `creator` (freed: every event of it evicted). */
  remove(creator: string | undefined): void {
    const n = this.createdBy(creator);
    if (n <= 0) return;
    if (n === 1) this.#perCreator.delete(creator);
    else this.#perCreator.set(creator, n - 1);
    this.#total--;
  }

  /** Forgets every count. */
  clear(): void {
    this.#perCreator.clear();
    this.#total = 0;
  }
}

const NONE = { total: 0, byCreator: 0 };

/**
 * Topics freed: every event of theirs was evicted (aged out, or gone from a shared engine), so
 * they no longer count toward the topic bounds and are no longer listed. Each is remembered by
 * its name and newest sequence alone, so a resume from before that sequence is still told that
 * history was lost (`reset`, reason `truncated`), and a topic created again starts truncated
 * through it. At most `limit` are remembered (`max_topics`); past it the oldest is forgotten, and
 * a resume from before the newest sequence of any forgotten topic is told so whatever its topics.
 */
export class FreedTopics {
  readonly #last = new Map<string, number>();
  #forgottenThrough: number;

  constructor(readonly limit: number, forgottenThrough = 0) {
    this.#forgottenThrough = forgottenThrough;
  }

  /** The newest sequence of every topic no longer remembered (0: none). */
  get forgottenThrough(): number {
    return this.#forgottenThrough;
  }

  /** Topics remembered. */
  get size(): number {
    return this.#last.size;
  }

  /** Each remembered topic and its newest sequence, the oldest freed first. */
  entries(): Array<{ topic: string; lastSeq: number }> {
    return [...this.#last].map(([topic, lastSeq]) => ({ topic, lastSeq }));
  }

  /** The newest sequence of `topic`, when it is remembered as freed. */
  get(topic: string): number | undefined {
    return this.#last.get(topic);
  }

  /** The topic freeing `topic` would forget to stay within the limit, if any. */
  evicts(topic: string): { topic: string; lastSeq: number } | undefined {
    if (this.#last.has(topic) || this.#last.size < this.limit) return undefined;
    const first = this.#last.entries().next();
    return first.done ? undefined : { topic: first.value[0], lastSeq: first.value[1] };
  }

  /** Remembers `topic` freed at `lastSeq`; returns the topic forgotten to make room, if any. */
  add(topic: string, lastSeq: number): string | undefined {
    const out = this.evicts(topic);
    if (out) this.forget(out.topic);
    this.#last.delete(topic);
    if (this.limit > 0) this.#last.set(topic, lastSeq);
    else this.#forgottenThrough = Math.max(this.#forgottenThrough, lastSeq);
    return out?.topic;
  }

  /** Forgets `topic`: a resume from before its newest sequence is truncated whatever its topics. */
  forget(topic: string): void {
    const seq = this.#last.get(topic);
    if (seq === undefined) return;
    this.#last.delete(topic);
    this.#forgottenThrough = Math.max(this.#forgottenThrough, seq);
  }

  /** Notes topics forgotten elsewhere through `seq` (another isolate's snapshot). */
  forgetThrough(seq: number): void {
    this.#forgottenThrough = Math.max(this.#forgottenThrough, seq);
  }

  /** Removes `topic` (created again); returns its newest sequence, if it was freed. */
  take(topic: string): number | undefined {
    const seq = this.#last.get(topic);
    this.#last.delete(topic);
    return seq;
  }

  /** True when a freed topic matching `filter` (or a forgotten one) had an event above `after`. */
  truncatedAfter(filter: TopicFilter, after: number): boolean {
    if (after < this.#forgottenThrough) return true;
    if (this.#last.size === 0) return false;
    if (!filter.hasWildcard) {
      for (const t of filter.exact) if ((this.#last.get(t) ?? 0) > after) return true;
      return false;
    }
    for (const [t, seq] of this.#last) if (seq > after && filter.matches(t)) return true;
    return false;
  }

  /**
   * Adds to a store's `truncation(filter)` the freed topics matching `filter` (everything they
   * had was evicted), and under the name "" (no topic's) the forgotten ones', so a replay notices
   * a topic freed while it runs.
   */
  addTruncation(filter: TopicFilter, out: Map<string, number>): Map<string, number> {
    out.set("", this.#forgottenThrough);
    if (!filter.hasWildcard) {
      for (const t of filter.exact) {
        const seq = this.#last.get(t);
        if (seq !== undefined) out.set(t, Math.max(out.get(t) ?? 0, seq));
      }
      return out;
    }
    for (const [t, seq] of this.#last) {
      if (filter.matches(t)) out.set(t, Math.max(out.get(t) ?? 0, seq));
    }
    return out;
  }

  /** Forgets everything. */
  clear(): void {
    this.#last.clear();
    this.#forgottenThrough = 0;
  }
}

/**
 * What replay, `GET /topics` and age retention read: the same for every engine. The reads of a
 * local store are synchronous so registration and replay cannot interleave; a remote store may
 * answer `read` with a promise for history it must fetch (events at or below the position taken
 * at registration never change, so that wait is safe).
 */
export interface RelayLog {
  /** Names this history; changes when history is lost (a memory relay restarted). */
  readonly epoch: string;
  /** Sequence of the newest event (0 when none). */
  readonly lastSeq: number;
  /** Up to `limit` events matching `filter` with `afterSeq < seq <= uptoSeq`, in order. */
  read(
    filter: TopicFilter,
    afterSeq: number,
    uptoSeq: number,
    limit: number,
  ): StoredEvent[] | Promise<StoredEvent[]>;
  /** True when a matching topic evicted an event with a sequence above `afterSeq`. */
  truncatedAfter(filter: TopicFilter, afterSeq: number): boolean;
  /** Highest evicted sequence per matching topic (to notice eviction during a long replay). */
  truncation(filter: TopicFilter): Map<string, number>;
  /** The oldest retained sequence among matching topics. */
  oldestSeq(filter: TopicFilter): number | undefined;
  /** Per-topic facts. */
  topics(): TopicInfo[];
  /** Topics freed and still remembered, and the newest sequence of those forgotten. */
  freed(): FreedSnapshot;
  /**
   * Evicts events older than the age bound, and frees each topic left with none (see
   * {@linkcode FreedTopics}); returns how many events.
   */
  expire(nowMs: number): number;
  close(): void | Promise<void>;
}

/** What {@linkcode RelayLog.freed} answers (a worker isolate's snapshot carries it). */
export interface FreedSnapshot {
  topics: Array<{ topic: string; lastSeq: number }>;
  forgottenThrough: number;
}

/** How a publish the store could not write is refused (503), before the store's reason. */
export const NOT_WRITTEN = "relay store cannot write: ";

/** A topic log on this machine (memory, SQLite): appends are synchronous. */
export interface RelayStore extends RelayLog {
  read(filter: TopicFilter, afterSeq: number, uptoSeq: number, limit: number): StoredEvent[];
  /**
   * Appends one event and applies count retention to its topic. `publisher` is the principal the
   * relay authenticated (never a value taken from the client's body).
   */
  append(
    topic: string,
    eventId: string,
    payloadJson: string,
    nowMs: number,
    publisher?: string,
  ): StoredEvent;
  /** Why the last append could not be written (cleared by the next that is), if it failed. */
  readonly writeError?: string;
  /**
   * The keyed publishes (event ids of version 8, see idempotency.ts) stored at or after
   * `sinceMs`, at most `limit` of them, oldest first: what a durable store gives a restarted
   * relay to answer their retries. Absent for a store that keeps nothing over a restart.
   */
  keyedSince?(sinceMs: number, limit: number): KeyedEvent[];
  close(): void;
}

/** A keyed publish a store holds (see {@linkcode RelayStore.keyedSince}). */
export interface KeyedEvent {
  eventId: string;
  seq: number;
  tsMs: number;
  topic: string;
  payloadJson: string;
}

/** Where {@linkcode eventData} writes the event id, and its length (a UUID). */
const DATA_ID_AT = '{"id":"'.length;
const UUID_LENGTH = 36;
/** The offset of a UUID's version digit. */
const UUID_VERSION_AT = 14;

/**
 * The event id and payload JSON of a data line {@linkcode eventData} wrote for these fields, as
 * they were published; undefined for a line it did not write so (another format, a changed row).
 */
export function dataParts(
  data: string,
  seq: number,
  tsMs: number,
  topic: string,
  publisher: string | undefined,
): { eventId: string; payloadJson: string } | undefined {
  const eventId = data.slice(DATA_ID_AT, DATA_ID_AT + UUID_LENGTH);
  if (eventId.length !== UUID_LENGTH) return undefined;
  const head = eventData(eventId, seq, tsMs, topic, "", publisher).slice(0, -1);
  if (data.length <= head.length + 1 || !data.startsWith(head) || !data.endsWith("}")) {
    return undefined;
  }
  return { eventId, payloadJson: data.slice(head.length, -1) };
}

/** SQL true for a data line whose event id is of version 8 (a keyed publish's). */
export const KEYED_DATA_SQL = `substr(data, ${DATA_ID_AT + UUID_VERSION_AT + 1}, 1) = '8'`;

/**
 * A topic log in a shared engine (NATS JetStream): a publish is acknowledged once the engine
 * has the event, and every replica (this one too) learns of it from its tail of the engine, in
 * sequence order, through {@linkcode RemoteRelayStore.onEvent}.
 */
export interface RemoteRelayStore extends RelayLog {
  readonly remote: true;
  /** False while the engine is out of reach: publishes and resumes ahead of the tail get 503. */
  readonly available: boolean;
  /** Why the last publish could not be written where it is stored (cleared by the next that is). */
  readonly writeError?: string;
  /**
   * Why this replica cannot read the stream (its tail's consumer could not be made: an account
   * at its consumer limit, say), until its tail reads again; its subscribers get nothing new.
   */
  readonly tailError?: string;
  /**
   * Stores one event; resolves with its sequence once the engine acknowledged it.
   * @throws {TopicLimitError} for one topic more than the bound
   */
  publish(
    topic: string,
    eventId: string,
    payloadJson: string,
    nowMs: number,
    publisher?: string,
  ): Promise<number>;
  /**
   * {@linkcode publish}, telling an event the engine already had (the same event id within its
   * duplicate window: nothing is stored, the first sequence is answered) from a new one;
   * `digest`, for a keyed publish, lets a store that remembers keyed publishes refuse an id
   * published with another topic or payload.
   * @throws as `publish`; {IdempotencyConflictError} for an id published with another digest
   */
  publishOnce?(
    topic: string,
    eventId: string,
    payloadJson: string,
    nowMs: number,
    publisher?: string,
    digest?: string,
  ): Promise<{ seq: number; replayed: boolean }>;
  /**
   * Registers the one listener for events as the tail applies them (the fan-out). `unread`,
   * when above 0: events of `e`'s topic up to that sequence left the engine before this replica
   * read them (they were never handed to the listener), so the topic's subscribers have a gap
   * before `e`.
   */
  onEvent(fn: (e: StoredEvent, unread: number) => void): void;
  /** Resolves true once the tail reached `seq`, false after `timeoutMs`. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean>;
  /** The engine's newest sequence (to tell a lagging tail from a position that never was). */
  engineLastSeq(): Promise<number>;
}

/** Either kind of store. */
export type AnyRelayStore = RelayStore | RemoteRelayStore;

/** True for a store in a shared engine. */
export function isRemoteStore(store: AnyRelayStore): store is RemoteRelayStore {
  return "remote" in store && store.remote === true;
}

/**
 * The JSON data line of one event: the IG&S relay's `{"id","ts","topic","payload"}` (`id` the
 * event's UUID, `ts` float seconds) with iatp's `event_id` (the same UUID), `seq`, `ts_iso`
 * and `publisher` beside them. `publisher` sits beside, never inside, the payload, so a client
 * cannot forge it.
 *
 * @example
 * ```ts
 * eventData("e1", 7, 1500, "action.tasks.a1", "{}", "ops");
 * // {"id":"e1","event_id":"e1","seq":7,"ts":1.5,"ts_iso":"1970-01-01T00:00:01.500Z",
 * //  "topic":"action.tasks.a1","publisher":"ops","payload":{}}
 * ```
 */
export function eventData(
  eventId: string,
  seq: number,
  tsMs: number,
  topic: string,
  payloadJson: string,
  publisher?: string,
): string {
  const by = publisher === undefined ? "" : `"publisher":${JSON.stringify(publisher)},`;
  const id = JSON.stringify(eventId);
  return `{"id":${id},"event_id":${id},"seq":${seq},"ts":${tsMs / 1000},"ts_iso":"${
    isoTime(tsMs)
  }","topic":${JSON.stringify(topic)},${by}"payload":${payloadJson}}`;
}

/** The second {@linkcode isoTime} formatted last, and its text up to the milliseconds. */
let isoSecond = NaN;
let isoPrefix = "";
/** 10000-01-01T00:00:00Z: from there on `toISOString` writes a six-digit year. */
const ISO_LAST_MS = 253402300800000;

/**
 * `new Date(ms).toISOString()`, with the text up to the second made once per second (events
 * published in the same second share it): the date's formatting cost more than the rest of an
 * event's envelope.
 * @example
 * ```ts
 * isoTime(1500); // "1970-01-01T00:00:01.500Z"
 * ```
 */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= ISO_LAST_MS) return new Date(ms).toISOString();
  const rest = ms % 1000;
  const second = ms - rest;
  if (second !== isoSecond) {
    isoPrefix = new Date(second).toISOString().slice(0, -4); // "...T12:34:56."
    isoSecond = second;
  }
  return isoPrefix + (rest < 10 ? "00" : rest < 100 ? "0" : "") + rest + "Z";
}

/** Merges per-topic ordered runs into one ordered list of at most `limit`. */
export function mergeRuns(runs: StoredEvent[][], limit: number): StoredEvent[] {
  const nonEmpty = runs.filter((r) => r.length > 0);
  if (nonEmpty.length === 0) return [];
  if (nonEmpty.length === 1) return nonEmpty[0].slice(0, limit);
  const all = nonEmpty.flat();
  all.sort((a, b) => a.seq - b.seq);
  return all.length > limit ? all.slice(0, limit) : all;
}
