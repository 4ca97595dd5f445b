/**
 * Live fan-out: which subscribers want which topic. Subscribers to exact names are indexed by
 * topic; wildcard subscribers are checked per event. The frame is encoded once per event and
 * shared by every subscriber (and framed for the wire once: see `shareChunk`).
 * @module
 */
import { shareChunk } from "../http/mod.ts";
import type { SseSubscriber } from "./stream/mod.ts";
import type { TopicFilter } from "../topic/mod.ts";

/** The live subscriber registry (no object of its own per subscriber). */
export class Hub {
  readonly #byTopic = new Map<string, Set<SseSubscriber>>();
  readonly #wildcard = new Map<SseSubscriber, TopicFilter>();
  readonly #all = new Map<SseSubscriber, TopicFilter>();

  /** Subscribers registered now. */
  get size(): number {
    return this.#all.size;
  }

  /** Registers `stream` for the topics `filter` matches (once, and not once it ended). */
  add(stream: SseSubscriber, filter: TopicFilter): void {
    if (stream.ended || this.#all.has(stream)) return;
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
    if (filter.hasWildcard) return void this.#wildcard.delete(stream);
    for (const t of filter.exact) {
      const set = this.#byTopic.get(t);
      set?.delete(stream);
      if (set?.size === 0) this.#byTopic.delete(t);
    }
  }

  /** Offers `frame` to every subscriber of `topic`; returns how many took it. */
  dispatch(topic: string, frame: Uint8Array): number {
    shareChunk(frame);
    let n = 0;
    const exact = this.#byTopic.get(topic);
    if (exact) { for (const s of exact) if (s.offer(frame)) n++; }
    if (this.#wildcard.size > 0) {
      this.#wildcard.forEach((f, s) => {
        if (f.matches(topic) && s.offer(frame)) n++;
      });
    }
    return n;
  }

  /** Calls `fn` for every subscriber (heartbeats, shutdown). */
  forEach(fn: (stream: SseSubscriber) => void): void {
    for (const s of [...this.#all.keys()]) fn(s);
  }
}
