/**
 * Live fan-out: which subscribers want which topic. Subscribers to exact names are indexed by
 * topic; wildcard subscribers are checked per event. The frame is encoded once per event and
 * shared by every subscriber (and framed for the wire once: see `shareChunk`).
 * @module
 */
import { shareChunk } from "../http/mod.ts";
import type { SseSubscriber } from "./subscriber.ts";
import type { TopicFilter } from "../topic/mod.ts";

/** A registered subscriber. */
export interface HubEntry {
  filter: TopicFilter;
  stream: SseSubscriber;
}

/** The live subscriber registry. */
export class Hub {
  readonly #byTopic = new Map<string, Set<HubEntry>>();
  readonly #wildcard = new Set<HubEntry>();
  readonly #all = new Set<HubEntry>();

  /** Subscribers registered now. */
  get size(): number {
    return this.#all.size;
  }

  /** Registers an entry; returns a function that removes it. */
  add(entry: HubEntry): () => void {
    this.#all.add(entry);
    if (entry.filter.hasWildcard) {
      this.#wildcard.add(entry);
    } else {
      for (const t of entry.filter.exact) {
        let set = this.#byTopic.get(t);
        if (!set) this.#byTopic.set(t, set = new Set());
        set.add(entry);
      }
    }
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.#all.delete(entry);
      if (entry.filter.hasWildcard) return void this.#wildcard.delete(entry);
      for (const t of entry.filter.exact) {
        const set = this.#byTopic.get(t);
        set?.delete(entry);
        if (set?.size === 0) this.#byTopic.delete(t);
      }
    };
  }

  /** Offers `frame` to every subscriber of `topic`; returns how many took it. */
  dispatch(topic: string, frame: Uint8Array): number {
    shareChunk(frame);
    let n = 0;
    const exact = this.#byTopic.get(topic);
    if (exact) { for (const e of exact) if (e.stream.offer(frame)) n++; }
    for (const e of this.#wildcard) if (e.filter.matches(topic) && e.stream.offer(frame)) n++;
    return n;
  }

  /** Calls `fn` for every subscriber (heartbeats, shutdown). */
  forEach(fn: (e: HubEntry) => void): void {
    for (const e of [...this.#all]) fn(e);
  }
}
