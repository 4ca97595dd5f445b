/**
 * A replica's picture of the JetStream stream, built from its tail: per topic the sequences
 * (and store times) of the events the stream retains, mirroring the stream's own per-subject
 * count bound and age bound, and the highest sequence it evicted; plus a bounded cache of the
 * newest events' data for replays. Sequence numbers cost 16 bytes an event; data is fetched
 * from the stream when it has left the cache.
 *
 * Truncation is exact: each event names its topic's previous event (`prev`, checked by the
 * engine when it was written), so a tail that finds `prev` above the topic's last known event
 * knows that everything up to `prev` was evicted before it could read it.
 * @module
 */
import type { TailedEvent } from "./js_wire.ts";
import { type Retention, type StoredEvent, type TopicInfo, TopicQuota } from "./store.ts";
import type { TopicFilter } from "../topic/mod.ts";

interface TopicIndex {
  /** Retained sequences, ascending, from `head`. */
  seqs: number[];
  /** Store time (ms) of each retained sequence. */
  stored: number[];
  head: number;
  lastSeq: number;
  truncatedThrough: number;
}

/** First index in `a[from..]` whose value is above `v`. */
function firstAbove(a: number[], from: number, v: number): number {
  let lo = from, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The index; see the module doc. */
export class StreamIndex {
  #lastSeq = 0;
  readonly #topics = new Map<string, TopicIndex>();
  readonly #cache = new Map<number, StoredEvent>();
  /** Cached sequences in arrival order (ascending), for eviction. */
  #cacheOrder: number[] = [];
  #cacheHead = 0;
  /** Topics per creator: the publisher of the first event of a topic this index applied. */
  readonly #quota: TopicQuota;

  constructor(private readonly retention: Retention, private readonly cacheEvents: number) {
    this.#quota = new TopicQuota(retention);
  }

  /** The newest sequence the tail applied (or was told is done). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Distinct topics known. */
  get topicCount(): number {
    return this.#topics.size;
  }

  /**
   * Refuses a new topic for `creator` past either topic bound, counting `pending` topics being
   * created besides those known.
   * @throws {TopicLimitError} naming the bound
   */
  checkNewTopic(creator: string | undefined, pending: { total: number; byCreator: number }): void {
    this.#quota.check(creator, pending);
  }

  /** True when `topic` is known. */
  hasTopic(topic: string): boolean {
    return this.#topics.has(topic);
  }

  /** The newest sequence known on `topic` (0: none). */
  topicLastSeq(topic: string): number {
    return this.#topics.get(topic)?.lastSeq ?? 0;
  }

  /** Moves the position past sequences the stream no longer holds (an empty stream at start). */
  advanceTo(seq: number): void {
    if (seq > this.#lastSeq) this.#lastSeq = seq;
  }

  /** Applies one tailed event (in sequence order); returns false for one already applied. */
  apply(t: TailedEvent): boolean {
    const e = t.event;
    let idx = this.#topics.get(e.topic);
    if (idx && e.seq <= idx.lastSeq) return false;
    if (!idx) {
      idx = { seqs: [], stored: [], head: 0, lastSeq: 0, truncatedThrough: 0 };
      this.#topics.set(e.topic, idx);
      this.#quota.add(e.publisher);
    }
    // Events between the last one seen and `prev` were evicted before this tail read them.
    if (t.prev > idx.lastSeq) {
      idx.truncatedThrough = Math.max(idx.truncatedThrough, t.prev);
      while (idx.head < idx.seqs.length) this.#evict(idx);
    }
    idx.seqs.push(e.seq);
    idx.stored.push(t.storedMs);
    idx.lastSeq = e.seq;
    if (e.seq > this.#lastSeq) this.#lastSeq = e.seq;
    while (idx.seqs.length - idx.head > this.retention.maxEventsPerTopic) this.#evict(idx);
    this.#remember(e);
    return true;
  }

  #remember(e: StoredEvent): void {
    if (this.cacheEvents <= 0) return;
    this.#cache.set(e.seq, e);
    this.#cacheOrder.push(e.seq);
    while (this.#cache.size > this.cacheEvents && this.#cacheHead < this.#cacheOrder.length) {
      this.#cache.delete(this.#cacheOrder[this.#cacheHead++]);
    }
    if (this.#cacheHead >= 1024 && this.#cacheHead * 2 >= this.#cacheOrder.length) {
      this.#cacheOrder = this.#cacheOrder.slice(this.#cacheHead);
      this.#cacheHead = 0;
    }
  }

  #evict(idx: TopicIndex): void {
    const seq = idx.seqs[idx.head];
    idx.truncatedThrough = Math.max(idx.truncatedThrough, seq);
    this.#cache.delete(seq);
    idx.head++;
    if (idx.head >= 64 && idx.head * 2 >= idx.seqs.length) {
      idx.seqs = idx.seqs.slice(idx.head);
      idx.stored = idx.stored.slice(idx.head);
      idx.head = 0;
    }
  }

  /**
   * Learns a topic that retains no event now: its newest sequence and how far it was evicted
   * (a replica starting from another's snapshot).
   */
  restoreEmptyTopic(topic: string, lastSeq: number, truncatedThrough: number): void {
    if (this.#topics.has(topic)) return;
    this.#topics.set(topic, { seqs: [], stored: [], head: 0, lastSeq, truncatedThrough });
    this.#quota.add(undefined);
    if (lastSeq > this.#lastSeq) this.#lastSeq = lastSeq;
  }

  /** Marks `seq` of `topic` gone (the stream no longer had it when asked). */
  markGone(topic: string, seq: number): void {
    const idx = this.#topics.get(topic);
    if (!idx) return;
    while (idx.head < idx.seqs.length && idx.seqs[idx.head] <= seq) this.#evict(idx);
    idx.truncatedThrough = Math.max(idx.truncatedThrough, seq);
  }

  #matching(filter: TopicFilter): Array<[string, TopicIndex]> {
    if (!filter.hasWildcard) {
      const out: Array<[string, TopicIndex]> = [];
      for (const t of filter.exact) {
        const idx = this.#topics.get(t);
        if (idx) out.push([t, idx]);
      }
      return out;
    }
    return [...this.#topics].filter(([t]) => filter.matches(t));
  }

  /** Up to `limit` (topic, seq) pairs matching `filter` in `(after, upto]`, ascending. */
  seqsIn(
    filter: TopicFilter,
    after: number,
    upto: number,
    limit: number,
  ): Array<{ topic: string; seq: number }> {
    const out: Array<{ topic: string; seq: number }> = [];
    for (const [topic, idx] of this.#matching(filter)) {
      const start = firstAbove(idx.seqs, idx.head, after);
      const end = Math.min(firstAbove(idx.seqs, start, upto), start + limit);
      for (let i = start; i < end; i++) out.push({ topic, seq: idx.seqs[i] });
    }
    out.sort((a, b) => a.seq - b.seq);
    return out.length > limit ? out.slice(0, limit) : out;
  }

  /** The cached event `seq`, if still cached. */
  cached(seq: number): StoredEvent | undefined {
    return this.#cache.get(seq);
  }

  /** True when a matching topic evicted an event with a sequence above `after`. */
  truncatedAfter(filter: TopicFilter, after: number): boolean {
    return this.#matching(filter).some(([, idx]) => idx.truncatedThrough > after);
  }

  /** Highest evicted sequence per matching topic. */
  truncation(filter: TopicFilter): Map<string, number> {
    const out = new Map<string, number>();
    for (const [t, idx] of this.#topics) if (filter.matches(t)) out.set(t, idx.truncatedThrough);
    return out;
  }

  /** The oldest retained sequence among matching topics. */
  oldestSeq(filter: TopicFilter): number | undefined {
    let oldest: number | undefined;
    for (const [, idx] of this.#matching(filter)) {
      const first = idx.seqs[idx.head];
      if (first !== undefined && (oldest === undefined || first < oldest)) oldest = first;
    }
    return oldest;
  }

  /** Per-topic facts. */
  topics(): TopicInfo[] {
    return [...this.#topics].map(([topic, idx]) => ({
      topic,
      count: idx.seqs.length - idx.head,
      lastSeq: idx.lastSeq,
      oldestSeq: idx.seqs[idx.head],
      truncatedThrough: idx.truncatedThrough,
    }));
  }

  /** Evicts what the stream's age bound evicted (by the stream's store time); returns how many. */
  expire(nowMs: number): number {
    if (this.retention.maxAgeMs <= 0) return 0;
    const cutoff = nowMs - this.retention.maxAgeMs;
    let n = 0;
    for (const idx of this.#topics.values()) {
      while (idx.head < idx.seqs.length && idx.stored[idx.head] < cutoff) {
        this.#evict(idx);
        n++;
      }
    }
    return n;
  }

  /** Forgets everything. */
  clear(): void {
    this.#topics.clear();
    this.#quota.clear();
    this.#cache.clear();
    this.#cacheOrder = [];
    this.#cacheHead = 0;
  }
}
