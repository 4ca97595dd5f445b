/**
 * The relay's topic log: every published event gets the next sequence number of one relay-wide
 * sequence, and each topic keeps a bounded history (by count and by age). Stores sit behind
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

  /** Forgets every count. */
  clear(): void {
    this.#perCreator.clear();
    this.#total = 0;
  }
}

const NONE = { total: 0, byCreator: 0 };

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
  /** Evicts events older than the age bound; returns how many. */
  expire(nowMs: number): number;
  close(): void | Promise<void>;
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
  close(): void;
}

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
  /** Registers the one listener for events as the tail applies them (the fan-out). */
  onEvent(fn: (e: StoredEvent) => void): void;
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
