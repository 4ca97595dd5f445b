/**
 * Live fan-out: which subscribers want which topic. Subscribers to exact names are indexed by
 * topic; wildcard subscribers are checked per event. The frame is encoded once per event and
 * shared by every subscriber (and framed for the wire once: see `shareChunk`).
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
import { shareChunk } from "../http/mod.ts";
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
}

/** An event waiting for a round. */
interface Waiting {
  topic: string;
  frame: Uint8Array;
  /** Its number among the events that reached the hub. */
  n: number;
}

/** The live subscriber registry (no object of its own per subscriber). */
export class Hub implements RoundMember {
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

  constructor(opts: HubOptions = {}) {
    this.#backlogBytes = opts.backlogBytes ?? DEFAULT_BACKLOG_BYTES;
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
    if (filter.hasWildcard) return void this.#wildcard.delete(stream);
    for (const t of filter.exact) {
      const set = this.#byTopic.get(t);
      set?.delete(stream);
      if (set?.size === 0) this.#byTopic.delete(t);
    }
  }

  /**
   * Offers `frame` to every subscriber of `topic`, or keeps it for the next round once a
   * subscriber's batch holds its share; returns how many subscribers took it (or will be offered
   * it).
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

  /** A round starts: offers the events waiting, up to one round's share. Writes nothing. */
  flush(): boolean {
    this.#marked = false;
    this.#full = false;
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
    if (took > 0 || this.#waitingBytes > 0) this.#mark();
    return false;
  }

  /** Calls `fn` for every subscriber (heartbeats, shutdown). */
  forEach(fn: (stream: SseSubscriber) => void): void {
    for (const s of [...this.#all.keys()]) fn(s);
  }

  /** Offers event `n` to its subscribers now; notes a batch that reached its share. */
  #offer(topic: string, frame: Uint8Array, n: number): number {
    let took = 0;
    const exact = this.#byTopic.get(topic);
    if (this.#late.size === 0) {
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
    if (exact) { for (const s of exact) if (due(s) && this.#take(s, frame)) took++; }
    this.#wildcard.forEach((f, s) => {
      if (f.matches(topic) && due(s) && this.#take(s, frame)) took++;
    });
    return took;
  }

  /** Subscribers of `topic`. */
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
