/**
 * A replica's picture of the JetStream stream, built from its tail: per topic the sequences
 * (and store times) of the events the stream retains, mirroring the stream's own per-subject
 * count bound and age bound, and the highest sequence it evicted; plus a bounded cache of the
 * newest events' data for replays. Sequence numbers cost 16 bytes an event; data is fetched
 * from the stream when it has left the cache.
 *
 * Truncation is exact: each event names its topic's previous event (`prev`, checked by the
 * engine when it was written), so a tail that finds `prev` above the topic's last known event
 * knows that everything up to `prev` was evicted before it could read it. A topic whose events
 * all left the stream (aged out, gone when asked for, or below the stream's first sequence after
 * a purge) is freed: it no longer counts toward the topic bounds.
 * @module
 */
import type { TailedEvent } from "./js_wire.ts";
import {
  type FreedSnapshot,
  FreedTopics,
  type Retention,
  type StoredEvent,
  type TopicInfo,
  TopicQuota,
} from "./store.ts";
import type { TopicFilter } from "../topic/mod.ts";

interface TopicIndex {
  /** The publisher of the first event of the topic this index applied. */
  creator: string | undefined;
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
  /** Topics whose events all left the stream (see {@linkcode FreedTopics}). */
  readonly #freed: FreedTopics;
  /** Sequences below this are gone from the stream (purged): the tail no longer applies them. */
  #floor = 0;

  constructor(private readonly retention: Retention, private readonly cacheEvents: number) {
    this.#quota = new TopicQuota(retention);
    this.#freed = new FreedTopics(retention.maxTopics);
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

  /**
   * The newest sequence of `t`'s topic that left the stream before this index read it: `t.prev`
   * when it is above the last event of the topic this index applied (or knew gone), else 0.
   * Asked before applying `t`: events of the topic up to it were never applied, so never handed
   * to a live subscriber.
   */
  unreadThrough(t: TailedEvent): number {
    const idx = this.#topics.get(t.event.topic);
    const known = idx
      ? Math.max(idx.lastSeq, idx.truncatedThrough)
      : this.#freed.get(t.event.topic) ?? 0;
    return t.prev > known ? t.prev : 0;
  }

  /** Applies one tailed event (in sequence order); returns false for one already applied. */
  apply(t: TailedEvent): boolean {
    const e = t.event;
    let idx = this.#topics.get(e.topic);
    if (idx && e.seq <= idx.lastSeq) return false;
    if (e.seq < this.#floor) {
      // Read before the stream was purged, applied after: the stream holds it no more.
      this.advanceTo(e.seq);
      return false;
    }
    if (!idx) {
      const through = this.#freed.take(e.topic) ?? 0;
      idx = {
        creator: e.publisher,
        seqs: [],
        stored: [],
        head: 0,
        lastSeq: 0,
        truncatedThrough: through,
      };
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
   * Learns a topic that retains no event now, and its newest sequence (a replica starting from
   * another's snapshot): a freed topic.
   */
  restoreEmptyTopic(topic: string, lastSeq: number): void {
    if (this.#topics.has(topic)) return;
    this.#freed.add(topic, lastSeq);
    if (lastSeq > this.#lastSeq) this.#lastSeq = lastSeq;
  }

  /** Learns the freed topics of another's snapshot (a worker isolate starting). */
  restoreFreed(freed: FreedSnapshot): void {
    for (const f of freed.topics) this.restoreEmptyTopic(f.topic, f.lastSeq);
    this.#freed.forgetThrough(freed.forgottenThrough);
  }

  /** Marks `seq` of `topic` gone (the stream no longer had it when asked). */
  markGone(topic: string, seq: number): void {
    const idx = this.#topics.get(topic);
    if (!idx) return;
    while (idx.head < idx.seqs.length && idx.seqs[idx.head] <= seq) this.#evict(idx);
    idx.truncatedThrough = Math.max(idx.truncatedThrough, seq);
    this.#freeIfEmpty(topic, idx);
  }

  /**
   * Evicts every sequence below `seq`, the stream's first (it was purged); frees the topics left
   * with none. Returns how many were evicted.
   */
  dropBelow(seq: number): number {
    if (seq <= this.#floor) return 0;
    this.#floor = seq;
    let n = 0;
    for (const [topic, idx] of this.#topics) {
      if (idx.head === idx.seqs.length || idx.seqs[idx.head] >= seq) continue;
      while (idx.head < idx.seqs.length && idx.seqs[idx.head] < seq) {
        this.#evict(idx);
        n++;
      }
      this.#freeIfEmpty(topic, idx);
    }
    return n;
  }

  /** Frees a topic left without events: its creator's share and `max_topics` count it no more. */
  #freeIfEmpty(topic: string, idx: TopicIndex): void {
    if (idx.head < idx.seqs.length) return;
    this.#topics.delete(topic);
    this.#quota.remove(idx.creator);
    this.#freed.add(topic, idx.lastSeq);
  }

  /** The freed topics remembered, and the newest sequence of those forgotten. */
  freed(): FreedSnapshot {
    return { topics: this.#freed.entries(), forgottenThrough: this.#freed.forgottenThrough };
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
    return this.#matching(filter).some(([, idx]) => idx.truncatedThrough > after) ||
      this.#freed.truncatedAfter(filter, after);
  }

  /** Highest evicted sequence per matching topic. */
  truncation(filter: TopicFilter): Map<string, number> {
    const out = new Map<string, number>();
    for (const [t, idx] of this.#topics) if (filter.matches(t)) out.set(t, idx.truncatedThrough);
    return this.#freed.addTruncation(filter, out);
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
    for (const [topic, idx] of this.#topics) {
      if (idx.head === idx.seqs.length || idx.stored[idx.head] >= cutoff) continue;
      while (idx.head < idx.seqs.length && idx.stored[idx.head] < cutoff) {
        this.#evict(idx);
        n++;
      }
      this.#freeIfEmpty(topic, idx);
    }
    return n;
  }

  /** Forgets everything. */
  clear(): void {
    this.#topics.clear();
    this.#quota.clear();
    this.#freed.clear();
    this.#cache.clear();
    this.#cacheOrder = [];
    this.#cacheHead = 0;
  }
}
