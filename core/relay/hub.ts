/**
 * Live fan-out: which subscribers want which topic. Subscribers to exact names are indexed by
 * topic; wildcard subscribers are checked per event. The frame is encoded once per event and
 * shared by every subscriber (and framed for the wire once: see `shareChunk`).
 *
 * Most subscribers follow one topic. For them the hub keeps each topic's events of the next
 * round, and the round joins them once and writes that one chunk to every subscriber of the
 * topic: no work per event per subscriber, one queue check and one write per subscriber per
 * round. A subscriber that registered after some of those events (they are in its replay), is
 * still replaying, or holds frames not yet written takes them as frames of its own, after what
 * it holds. Subscribers of several topics or of a pattern are offered each event as it comes, so
 * their frames stay in publish order across topics.
 *
 * The hub offers a subscriber about a quarter of its queue bound per flush round: once one
 * subscriber's batch holds that much, the events after it wait for the next round. Events that
 * arrive faster (a burst: an isolate that was starved of CPU reading its backlog in one turn, a
 * long synchronous pause) wait here, once per event whatever the number of subscribers, and go
 * out a round at a time as the sockets take the last round's writes. So a subscriber is cut off
 * only when its own socket does not drain, never because the relay itself fell behind. The events
 * waiting here are bounded (`backlogBytes`): past it every subscriber due one of them ends with
 * `overflow` and resumes from the store by its last id.
 * @module
 */
import { concatBytes, shareChunk } from "../http/mod.ts";
import type { FlushRounds, RoundMember } from "./stream/mod.ts";
import type { SseSubscriber } from "./stream/mod.ts";
import type { TopicFilter } from "../topic/mod.ts";

/** Default bytes of events waiting in the hub before its subscribers resume from the store. */
export const DEFAULT_BACKLOG_BYTES = 16 * 1024 * 1024;
/** A subscriber's share of its queue that one flush round carries: 1 / ROUND_SHARE. */
const ROUND_SHARE = 4;

/** Options for {@linkcode Hub}. */
export interface HubOptions {
  /** Bytes of events waiting for a round before the isolate counts as too far behind. */
  backlogBytes?: number;
  /**
   * Told how many frames its single-topic subscribers took, as they take them (when a round
   * writes its topic's events, or offers them one by one): `dispatch` counts only the others.
   */
  onDelivered?: (frames: number) => void;
}

/** An event waiting for a round. */
interface Waiting {
  topic: string;
  frame: Uint8Array;
  /** Its number among the events that reached the hub. */
  n: number;
}

/** A topic's events of the next round, for its subscribers of that topic alone. */
interface TopicRound {
  frames: Uint8Array[];
  /** Each frame's number among the events that reached the hub. */
  ns: number[];
  bytes: number;
}

/** The live subscriber registry (no object of its own per subscriber). */
export class Hub implements RoundMember {
  /**
   * Subscribers of one exact topic, by topic: a round's events of a topic are joined once and
   * written to all of them (see {@linkcode Hub.flush}), not offered to each per event.
   */
  readonly #single = new Map<string, Set<SseSubscriber>>();
  /** Subscribers of several exact topics, by topic (offered each event, in publish order). */
  readonly #byTopic = new Map<string, Set<SseSubscriber>>();
  readonly #wildcard = new Map<SseSubscriber, TopicFilter>();
  readonly #all = new Map<SseSubscriber, TopicFilter>();
  readonly #backlogBytes: number;
  /** The rounds its subscribers are written in (learned from the first). */
  #rounds: FlushRounds | undefined;
  /** Bytes of a subscriber's batch a round carries (a share of the smallest queue). */
  #share = Infinity;
  /** A subscriber's batch holds its share: events wait for the next round. */
  #full = false;
  #marked = false;
  /** Events waiting for a round, from `#head` on. */
  #waiting: Array<Waiting | undefined> = [];
  #head = 0;
  #waitingBytes = 0;
  /** Events that reached the hub so far. */
  #count = 0;
  /** Subscribers registered while events waited: the number of the last one they replay. */
  readonly #late = new Map<SseSubscriber, number>();
  /** Each topic's events for its single-topic subscribers, written at the next round. */
  #round = new Map<string, TopicRound>();
  /**
   * Single-topic subscribers registered while their topic's round held events: the number of
   * the last one they replay (the round skips those for them).
   */
  readonly #joinedMid = new Map<SseSubscriber, number>();

  readonly #onDelivered: (frames: number) => void;

  constructor(opts: HubOptions = {}) {
    this.#backlogBytes = opts.backlogBytes ?? DEFAULT_BACKLOG_BYTES;
    this.#onDelivered = opts.onDelivered ?? (() => {});
  }

  /** Subscribers registered now. */
  get size(): number {
    return this.#all.size;
  }

  /** Bytes of events waiting for a flush round. */
  get backlog(): number {
    return this.#waitingBytes;
  }

  /**
   * Registers `stream` for the topics `filter` matches (once, and not once it ended). Events
   * waiting in the hub are not offered to it: they are in the store it replays from.
   */
  add(stream: SseSubscriber, filter: TopicFilter): void {
    if (stream.ended || this.#all.has(stream)) return;
    this.#rounds ??= stream.rounds;
    this.#share = Math.min(this.#share, stream.queueBytes / ROUND_SHARE);
    if (this.#waitingBytes > 0) this.#late.set(stream, this.#count);
    this.#all.set(stream, filter);
    if (filter.hasWildcard) {
      this.#wildcard.set(stream, filter);
      return;
    }
    if (filter.exact.length === 1) {
      const t = filter.exact[0];
      let set = this.#single.get(t);
      if (!set) this.#single.set(t, set = new Set());
      set.add(stream);
      if (this.#round.has(t)) this.#joinedMid.set(stream, this.#count);
      return;
    }
    for (const t of filter.exact) {
      let set = this.#byTopic.get(t);
      if (!set) this.#byTopic.set(t, set = new Set());
      set.add(stream);
    }
  }

  /** Unregisters `stream` (nothing when it is not registered). */
  remove(stream: SseSubscriber): void {
    const filter = this.#all.get(stream);
    if (!filter) return;
    this.#all.delete(stream);
    this.#late.delete(stream);
    this.#joinedMid.delete(stream);
    if (filter.hasWildcard) return void this.#wildcard.delete(stream);
    if (filter.exact.length === 1) {
      const t = filter.exact[0];
      const set = this.#single.get(t);
      set?.delete(stream);
      if (set?.size === 0) this.#single.delete(t);
      return;
    }
    for (const t of filter.exact) {
      const set = this.#byTopic.get(t);
      set?.delete(stream);
      if (set?.size === 0) this.#byTopic.delete(t);
    }
  }

  /**
   * Ends with `event: overflow` (saying `reason`) every subscriber of `topic`: events of it they
   * were due will never reach the fan-out (they left the store before this isolate read them).
   * Each resumes by its last id, and the store answers that position: a reset naming the gap,
   * or the events after it.
   */
  cut(topic: string, reason: string): void {
    this.#all.forEach((f, s) => {
      if (f.matches(topic)) s.overflow(reason);
    });
  }

  /**
   * Offers `frame` to every subscriber of `topic`, or keeps it for the next round once a
   * subscriber's batch holds its share; returns how many subscribers took it (or will be offered
   * it), those of `topic` alone left out: they are counted as they take it (`onDelivered`).
   */
  dispatch(topic: string, frame: Uint8Array): number {
    shareChunk(frame);
    const n = ++this.#count;
    if (this.#waitingBytes === 0 && !this.#full) {
      return this.#offer(topic, frame, n);
    }
    this.#waiting.push({ topic, frame, n });
    this.#waitingBytes += frame.length;
    this.#mark();
    if (this.#waitingBytes > this.#backlogBytes) return this.#fellBehind(), 0;
    return this.#matching(topic);
  }

  /**
   * A round starts: writes each topic's events of the round to its single-topic subscribers
   * (one joined chunk per topic), then offers the events waiting, up to one round's share.
   */
  flush(): boolean {
    this.#marked = false;
    this.#full = false;
    if (this.#round.size > 0) this.#writeRound();
    let took = 0;
    const q = this.#waiting;
    while (this.#head < q.length && !this.#full) {
      const w = q[this.#head];
      q[this.#head++] = undefined; // the frame goes once its subscribers wrote it
      if (w === undefined) continue;
      this.#waitingBytes -= w.frame.length;
      took += this.#offer(w.topic, w.frame, w.n);
    }
    if (this.#head === q.length) this.#clear();
    else if (this.#head > 1024 && this.#head * 2 > q.length) {
      this.#waiting = q.slice(this.#head);
      this.#head = 0;
    }
    if (took > 0 || this.#waitingBytes > 0 || this.#round.size > 0) this.#mark();
    return false;
  }

  /**
   * Calls `fn` for every subscriber (heartbeats, shutdown), each holding the frames due to it
   * (a topic's events of the next round are handed to its subscribers first).
   */
  forEach(fn: (stream: SseSubscriber) => void): void {
    if (this.#round.size > 0) this.#writeRound(true);
    for (const s of [...this.#all.keys()]) fn(s);
  }

  /**
   * Writes each topic's events of the round to its single-topic subscribers: one chunk joined
   * once per topic, shared by every subscriber that holds nothing of its own; the others (still
   * replaying, or holding frames not yet written) and those registered since some of the events
   * take them as frames of their own, after what they hold. `hold`: no write, all held.
   */
  #writeRound(hold = false): void {
    const round = this.#round;
    this.#round = new Map();
    const mid = this.#joinedMid;
    const rounds = this.#rounds;
    let delivered = 0;
    for (const [topic, r] of round) {
      const subs = this.#single.get(topic);
      if (!subs) continue;
      const chunk = r.frames.length === 1
        ? r.frames[0]
        : shareChunk(concatBytes(r.frames, r.bytes));
      for (const s of subs) {
        const after = mid.size > 0 ? mid.get(s) : undefined;
        let due = r.frames.length;
        if (after !== undefined) {
          due = 0;
          for (let i = 0; i < r.frames.length; i++) {
            if (r.ns[i] <= after) continue;
            due++;
            if (!s.offer(r.frames[i])) break;
          }
        } else if (hold || s.rounds !== rounds) {
          for (const f of r.frames) if (!s.offer(f)) break;
        } else if (s.takeShared(chunk, r.frames, r.bytes)) rounds.wrote(s);
        // Cut off (overflow): what it held of the round is dropped, none of it was queued.
        if (!s.ended) delivered += due;
      }
    }
    mid.clear();
    if (delivered > 0) this.#onDelivered(delivered);
  }

  /** Offers event `n` to its subscribers now; notes a batch that reached its share. */
  #offer(topic: string, frame: Uint8Array, n: number): number {
    let took = 0;
    const exact = this.#byTopic.get(topic);
    if (this.#late.size === 0) {
      const single = this.#single.get(topic);
      if (single) {
        let r = this.#round.get(topic);
        if (!r) this.#round.set(topic, r = { frames: [], ns: [], bytes: 0 });
        r.frames.push(frame);
        r.ns.push(n);
        r.bytes += frame.length;
        if (r.bytes >= this.#share) this.#full = true;
        this.#mark(); // counted as the round writes it (onDelivered)
      }
      if (exact) { for (const s of exact) if (this.#take(s, frame)) took++; }
      if (this.#wildcard.size > 0) {
        this.#wildcard.forEach((f, s) => {
          if (f.matches(topic) && this.#take(s, frame)) took++;
        });
      }
    } else took = this.#offerLate(topic, frame, n, exact);
    if (took > 0) this.#mark();
    return took;
  }

  /** Offers `frame` to `s`; whether it took it. */
  #take(s: SseSubscriber, frame: Uint8Array): boolean {
    if (!s.offer(frame)) return false;
    if (s.batched >= this.#share) this.#full = true;
    return true;
  }

  /** {@linkcode Hub.#offer} while subscribers registered late skip the events they replay. */
  #offerLate(topic: string, frame: Uint8Array, n: number, exact?: Set<SseSubscriber>): number {
    const due = (s: SseSubscriber) => (this.#late.get(s) ?? 0) < n;
    let took = 0;
    const single = this.#single.get(topic);
    if (single) {
      let taken = 0;
      for (const s of single) if (due(s) && this.#take(s, frame)) taken++;
      if (taken > 0) this.#onDelivered(taken), this.#mark();
    }
    if (exact) { for (const s of exact) if (due(s) && this.#take(s, frame)) took++; }
    this.#wildcard.forEach((f, s) => {
      if (f.matches(topic) && due(s) && this.#take(s, frame)) took++;
    });
    return took;
  }

  /** Subscribers of `topic` but those of it alone (counted as they take it: onDelivered). */
  #matching(topic: string): number {
    let k = this.#byTopic.get(topic)?.size ?? 0;
    this.#wildcard.forEach((f) => f.matches(topic) && k++);
    return k;
  }

  /** Joins the next round (which resets this round's share and drains the waiting events). */
  #mark(): void {
    if (this.#marked || !this.#rounds) return;
    this.#marked = true;
    this.#rounds.mark(this);
  }

  /**
   * More than `backlogBytes` wait: the isolate is too far behind to hold the rest. Every
   * subscriber due a waiting event ends with overflow and resumes from the store by its last id.
   */
  #fellBehind(): void {
    const topics = new Set<string>();
    for (let i = this.#head; i < this.#waiting.length; i++) {
      const w = this.#waiting[i];
      if (w) topics.add(w.topic);
    }
    this.#clear();
    this.#all.forEach((f, s) => {
      for (const t of topics) if (f.matches(t)) return s.overflow("relay fell behind");
    });
  }

  #clear(): void {
    this.#waiting = [];
    this.#head = 0;
    this.#waitingBytes = 0;
    this.#late.clear();
  }
}
