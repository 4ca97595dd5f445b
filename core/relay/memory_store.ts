/**
 * In-memory topic log: per-topic arrays in sequence order. History and the epoch live only as
 * long as the process, so a restarted memory relay has a new epoch and resuming clients reset.
 * @module
 */
import { newEpoch } from "./position.ts";
import {
  eventData,
  type FreedSnapshot,
  FreedTopics,
  mergeRuns,
  type RelayStore,
  type Retention,
  type StoredEvent,
  type TopicInfo,
  TopicQuota,
} from "./store.ts";
import type { TopicFilter } from "../topic/mod.ts";

interface TopicLog {
  /** The publisher of the topic's first event (counted against its share). */
  creator: string | undefined;
  events: StoredEvent[];
  /** Index of the oldest live entry; evicted entries before it are compacted lazily. */
  head: number;
  lastSeq: number;
  truncatedThrough: number;
}

/** First index in `events[from..]` whose seq is above `seq` (binary search). */
function firstAfter(events: StoredEvent[], from: number, seq: number): number {
  let lo = from, hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid].seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A memory-backed {@linkcode RelayStore}. */
export class MemoryStore implements RelayStore {
  readonly epoch = newEpoch();
  #seq = 0;
  readonly #topics = new Map<string, TopicLog>();
  /** Topics per creator (the publisher of a topic's first event). */
  readonly #quota: TopicQuota;
  readonly #freed: FreedTopics;

  constructor(private readonly retention: Retention) {
    this.#quota = new TopicQuota(retention);
    this.#freed = new FreedTopics(retention.maxTopics);
  }

  get lastSeq(): number {
    return this.#seq;
  }

  append(
    topic: string,
    eventId: string,
    payloadJson: string,
    nowMs: number,
    publisher?: string,
  ): StoredEvent {
    let log = this.#topics.get(topic);
    if (!log) {
      this.#quota.check(publisher);
      this.#quota.add(publisher);
      const through = this.#freed.take(topic) ?? 0;
      log = { creator: publisher, events: [], head: 0, lastSeq: 0, truncatedThrough: through };
      this.#topics.set(topic, log);
    }
    const seq = ++this.#seq;
    const event: StoredEvent = {
      seq,
      topic,
      tsMs: nowMs,
      data: eventData(eventId, seq, nowMs, topic, payloadJson, publisher),
      ...(publisher === undefined ? {} : { publisher }),
    };
    log.events.push(event);
    log.lastSeq = seq;
    while (log.events.length - log.head > this.retention.maxEventsPerTopic) this.#evict(log);
    return event;
  }

  #evict(log: TopicLog): void {
    log.truncatedThrough = log.events[log.head].seq;
    log.head++;
    // Compact once the dead prefix is as long as the live part: amortised O(1) per eviction.
    if (log.head >= 64 && log.head * 2 >= log.events.length) {
      log.events = log.events.slice(log.head);
      log.head = 0;
    }
  }

  #matching(filter: TopicFilter): TopicLog[] {
    if (!filter.hasWildcard) {
      const out: TopicLog[] = [];
      for (const t of filter.exact) {
        const log = this.#topics.get(t);
        if (log) out.push(log);
      }
      return out;
    }
    return [...this.#topics].filter(([t]) => filter.matches(t)).map(([, l]) => l);
  }

  read(filter: TopicFilter, afterSeq: number, uptoSeq: number, limit: number): StoredEvent[] {
    const runs = this.#matching(filter).map((log) => {
      const start = firstAfter(log.events, log.head, afterSeq);
      const end = firstAfter(log.events, start, uptoSeq);
      return log.events.slice(start, Math.min(end, start + limit));
    });
    return mergeRuns(runs, limit);
  }

  truncatedAfter(filter: TopicFilter, afterSeq: number): boolean {
    return this.#matching(filter).some((log) => log.truncatedThrough > afterSeq) ||
      this.#freed.truncatedAfter(filter, afterSeq);
  }

  truncation(filter: TopicFilter): Map<string, number> {
    const out = new Map<string, number>();
    for (const [t, log] of this.#topics) if (filter.matches(t)) out.set(t, log.truncatedThrough);
    return this.#freed.addTruncation(filter, out);
  }

  oldestSeq(filter: TopicFilter): number | undefined {
    let oldest: number | undefined;
    for (const log of this.#matching(filter)) {
      const first = log.events[log.head];
      if (first && (oldest === undefined || first.seq < oldest)) oldest = first.seq;
    }
    return oldest;
  }

  topics(): TopicInfo[] {
    return [...this.#topics].map(([topic, log]) => ({
      topic,
      count: log.events.length - log.head,
      lastSeq: log.lastSeq,
      oldestSeq: log.events[log.head]?.seq,
      truncatedThrough: log.truncatedThrough,
    }));
  }

  expire(nowMs: number): number {
    if (this.retention.maxAgeMs <= 0) return 0;
    const cutoff = nowMs - this.retention.maxAgeMs;
    let n = 0;
    for (const [topic, log] of this.#topics) {
      if (log.head === log.events.length || log.events[log.head].tsMs >= cutoff) continue;
      while (log.head < log.events.length && log.events[log.head].tsMs < cutoff) {
        this.#evict(log);
        n++;
      }
      if (log.head === log.events.length) this.#free(topic, log);
    }
    return n;
  }

  /** Frees a topic with no event left: its creator's share and `max_topics` count it no more. */
  #free(topic: string, log: TopicLog): void {
    this.#topics.delete(topic);
    this.#quota.remove(log.creator);
    this.#freed.add(topic, log.lastSeq);
  }

  freed(): FreedSnapshot {
    return { topics: this.#freed.entries(), forgottenThrough: this.#freed.forgottenThrough };
  }

  close(): void {
    this.#topics.clear();
    this.#quota.clear();
    this.#freed.clear();
  }
}
