/**
 * What the feed's ring holds, indexed so a viewer's questions cost no walk of the ring: per
 * topic, the positions of its held events (a search of a viewer who sees few events merges its
 * topics' positions); per visibility class (viewers whose `sees` key is equal see the same
 * topics), whether it may see each held topic, how many events it may see and the position of
 * its newest, kept as events are added and evicted; each event's position by id; and the
 * positions of each transaction's events. Each table holds at most one entry per held event or
 * held topic (the relay bounds topics by its `max_topics`), the classes `viewer_classes`.
 * Positions count every event the feed ever added (the ring's first holds `first`), so they stay
 * valid while older events go.
 * @module
 */
import type { Viewer } from "./event.ts";

/** Default number of visibility classes whose summary is kept (the least recently asked go). */
export const DEFAULT_VIEWER_CLASSES = 64;

/** How many held events a viewer may see, and the position of the newest (-1: none). */
interface VisibleSummary {
  count: number;
  newest: number;
}

/** The positions of one topic's held events, oldest first. */
type TopicHeld = number[];

interface ClassView extends VisibleSummary {
  maySee(topic: string): boolean;
  /** Whether the class may see each held topic, asked once per topic while it is held. */
  decided: Map<string, boolean>;
}

/** The index; see the module doc. */
export class HeldIndex {
  readonly #topics = new Map<string, TopicHeld>();
  /** The position of each held event by id (the newest, should the relay repeat an id). */
  readonly #ids = new Map<string, number>();
  readonly #classes = new Map<string, ClassView>();
  /** The positions of each transaction's held events, oldest first. */
  readonly #txs = new Map<string, number[]>();

  constructor(private readonly maxClasses = DEFAULT_VIEWER_CLASSES) {}

  /** Records the event of `topic`, `id` and transaction `tx` added at `pos` (the newest). */
  add(topic: string, id: string, pos: number, tx?: string): void {
    if (tx !== undefined) {
      const at = this.#txs.get(tx);
      if (at) at.push(pos);
      else this.#txs.set(tx, [pos]);
    }
    const t = this.#topics.get(topic);
    if (t) t.push(pos);
    else this.#topics.set(topic, [pos]);
    this.#ids.set(id, pos);
    for (const c of this.#classes.values()) {
      if (decide(c, topic)) {
        c.count++;
        c.newest = pos;
      }
    }
  }

  /** Records that the oldest held event (of `topic`, `id` and `tx`, at `pos`) went. */
  evict(topic: string, id: string, pos: number, tx?: string): void {
    const at = tx === undefined ? undefined : this.#txs.get(tx);
    // The oldest event held is its transaction's oldest.
    if (at?.[0] === pos) {
      at.shift();
      if (at.length === 0) this.#txs.delete(tx!);
    }
    if (this.#ids.get(id) === pos) this.#ids.delete(id);
    for (const c of this.#classes.values()) {
      // The oldest event going is a class's newest only when it was the class's last one.
      if (c.decided.get(topic) && --c.count === 0) c.newest = -1;
    }
    const t = this.#topics.get(topic);
    // The oldest event held is its topic's oldest.
    if (t?.[0] === pos) t.shift();
    if (!t || t.length > 0) return;
    this.#topics.delete(topic);
    for (const c of this.#classes.values()) c.decided.delete(topic);
  }

  /** The position of the held event `id` when `viewer` may see its topic, else -1. */
  positionOf(id: string, topicAt: (pos: number) => string, viewer: Viewer): number {
    const pos = this.#ids.get(id);
    return pos !== undefined && viewer.maySee(topicAt(pos)) ? pos : -1;
  }

  /** The positions of transaction `tx`'s held events, oldest first. */
  positionsOf(tx: string): readonly number[] {
    return this.#txs.get(tx) ?? [];
  }

  /**
   * The positions below `below` of the held events `viewer` may see, newest first: the topics
   * it may see merged, one question per held topic (a class keeps its answers).
   */
  *visiblePositions(viewer: Viewer, below: number): Generator<number> {
    const c = viewer.sees === undefined ? undefined : this.#classes.get(viewer.sees);
    // Each visible topic's positions, from its newest below `below` down: a max-heap on it.
    const heap: Cursor[] = [];
    for (const [topic, at] of this.#topics) {
      if (!(c ? c.decided.get(topic) : viewer.maySee(topic))) continue;
      let lo = 0;
      let hi = at.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (at[mid] < below) lo = mid + 1;
        else hi = mid;
      }
      if (lo > 0) heapPush(heap, { at, i: lo - 1 });
    }
    while (heap.length > 0) {
      const top = heap[0];
      const pos = top.at[top.i];
      yield pos;
      if (--top.i >= 0) siftDown(heap, 0);
      else {
        const last = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = last;
          siftDown(heap, 0);
        }
      }
    }
  }

  /** What `viewer` may see of the held events. */
  visible(viewer: Viewer): VisibleSummary {
    const key = viewer.sees;
    if (key === undefined) return this.#summarize(viewer.maySee.bind(viewer)).summary;
    let c = this.#classes.get(key);
    if (c) {
      // Most recently asked last: the least recently asked class goes first.
      this.#classes.delete(key);
    } else {
      const { summary, decided } = this.#summarize(viewer.maySee.bind(viewer));
      c = { ...summary, decided, maySee: viewer.maySee.bind(viewer) };
      if (this.#classes.size >= this.maxClasses) {
        this.#classes.delete(this.#classes.keys().next().value!);
      }
    }
    this.#classes.set(key, c);
    return { count: c.count, newest: c.newest };
  }

  /** Sums the held topics `maySee` covers: one question per held topic, none per event. */
  #summarize(maySee: (topic: string) => boolean) {
    const decided = new Map<string, boolean>();
    let count = 0;
    let newest = -1;
    for (const [topic, t] of this.#topics) {
      const v = maySee(topic);
      decided.set(topic, v);
      if (!v) continue;
      count += t.length;
      if (t[t.length - 1] > newest) newest = t[t.length - 1];
    }
    return { summary: { count, newest }, decided };
  }
}

function decide(c: ClassView, topic: string): boolean {
  let v = c.decided.get(topic);
  if (v === undefined) c.decided.set(topic, v = c.maySee(topic));
  return v;
}

type Cursor = { at: TopicHeld; i: number };
const keyOf = (c: Cursor) => c.at[c.i];

function heapPush(heap: Cursor[], c: Cursor): void {
  heap.push(c);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >>> 1;
    if (keyOf(heap[parent]) >= keyOf(heap[i])) break;
    [heap[parent], heap[i]] = [heap[i], heap[parent]];
    i = parent;
  }
}

function siftDown(heap: Cursor[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let top = i;
    if (l < heap.length && keyOf(heap[l]) > keyOf(heap[top])) top = l;
    if (r < heap.length && keyOf(heap[r]) > keyOf(heap[top])) top = r;
    if (top === i) return;
    [heap[top], heap[i]] = [heap[i], heap[top]];
    i = top;
  }
}
