/**
 * The relay log as a worker isolate sees it (`--workers`): the main isolate owns the one
 * sequence and the store; a worker learns of every event from the main isolate, in sequence
 * order, as a JetStream replica learns of them from its tail, and keeps the same index
 * (`StreamIndex`: per-topic sequences, truncation, the newest events' data). It starts from a
 * snapshot of the main isolate's history; events the main isolate broadcasts while the snapshot
 * is read are held and applied after it, so none is missed or applied twice. Publishes are
 * stored by the main isolate; history no longer cached here is read from it.
 * @module
 */
import { CallTimeoutError, type Channel } from "../cluster/mod.ts";
import { HttpError, UnavailableError } from "../errors/mod.ts";
import { isStreamRefusalReason, type StreamLimit, StreamRefusedError } from "./js_refusal.ts";
import type { TopicFilter } from "../topic/mod.ts";
import { EPOCH, TAKEN } from "./broadcast.ts";
import { decodeEvents, encodePublish } from "./isolate_wire.ts";
import { StreamIndex } from "./js_index.ts";
import { RETRY_AFTER_SECONDS } from "./publish.ts";
import type { TailedEvent } from "./js_wire.ts";
import {
  type FreedSnapshot,
  NOT_WRITTEN,
  type RemoteRelayStore,
  type Retention,
  type StoredEvent,
  type TopicInfo,
  TopicLimitError,
} from "./store.ts";
import { TailWaiters } from "./tail_waiters.ts";
import { IdempotencyConflictError } from "./idempotency.ts";

/** The main isolate's history when a worker starts. */
export interface RelaySnapshot {
  epoch: string;
  /** The newest sequence the snapshot covers; broadcasts carry only newer ones. */
  upto: number;
  /** Retained events up to `upto`, ascending (the oldest may come without data: see below). */
  events: StoredEvent[];
  /** Every topic: newest sequence and highest evicted one. */
  topics: Array<{ topic: string; lastSeq: number; truncatedThrough: number }>;
  /** The topics freed (every event evicted), so a resume from before them is still reset. */
  freed: FreedSnapshot;
}

/** A publish as the main isolate stores it. */
export interface IsolatePublish {
  topic: string;
  eventId: string;
  json: string;
  publisher?: string;
  /** A keyed publish's digest (see idempotency.ts): the main isolate stores it once. */
  digest?: string;
}

/** Index of the engine state in the shared state array. */
export const ENGINE_SLOT = 1;
/** What the main isolate posts as its tail's failure (`""`: none) while it has one, and once after. */
export const TAIL_ERROR = "tail-error";
/**
 * What the main isolate posts as its store's write error (`""`: none) while it has one, once
 * after, and when a worker's publish changed it.
 */
export const WRITE_ERROR = "write-error";
/** Engine state values: no engine (a local store), reachable, out of reach. */
export const ENGINE_NONE = 0, ENGINE_UP = 1, ENGINE_DOWN = 2;

/** See the module doc. */
export class IsolateStore implements RemoteRelayStore {
  readonly remote = true as const;
  #index: StreamIndex;
  readonly #retention: Retention;
  readonly #cacheEvents: number;
  readonly #main: Channel;
  readonly #state: Int32Array;
  readonly #waiters: TailWaiters;
  #epoch = "";
  #writeError: string | undefined;
  #tailError: string | undefined;
  #listener: (e: StoredEvent, unread: number) => void = () => {};
  /** Broadcasts (and new epochs) received while the snapshot loads. */
  #held: Array<TailedEvent | string> | undefined = [];

  private constructor(main: Channel, retention: Retention, cacheEvents: number, state: Int32Array) {
    this.#main = main;
    this.#state = state;
    this.#retention = retention;
    this.#cacheEvents = cacheEvents;
    this.#index = new StreamIndex(retention, cacheEvents);
    this.#waiters = new TailWaiters(() => this.#index.lastSeq);
    main.on("events", (batch) => {
      for (const t of decodeEvents(batch as string)) this.#apply(t);
      main.post(TAKEN); // what the main isolate holds against backlog_bytes for this isolate
    });
    main.on(EPOCH, (epoch) => this.#newEpoch(String(epoch)));
    main.on(TAIL_ERROR, (why) => this.#tailError = why ? String(why) : undefined);
    main.on(WRITE_ERROR, (why) => this.#writeError = why ? String(why) : undefined);
  }

  /**
   * Opens the store from the main isolate's snapshot.
   * @throws {Error} when the main isolate does not answer
   */
  static async open(
    main: Channel,
    retention: Retention,
    cacheEvents: number,
    state: Int32Array,
  ): Promise<IsolateStore> {
    const store = new IsolateStore(main, retention, cacheEvents, state);
    store.#load(await main.call("snapshot") as RelaySnapshot);
    return store;
  }

  #load(snap: RelaySnapshot): void {
    this.#epoch = snap.epoch;
    const through = new Map(snap.topics.map((t) => [t.topic, t.truncatedThrough]));
    const prev = new Map<string, number>();
    for (const e of snap.events) {
      this.#index.apply({
        event: e,
        prev: prev.get(e.topic) ?? through.get(e.topic) ?? 0,
        storedMs: e.tsMs,
      });
      prev.set(e.topic, e.seq);
    }
    for (const t of snap.topics) {
      if (!prev.has(t.topic)) this.#index.restoreEmptyTopic(t.topic, t.lastSeq);
    }
    this.#index.restoreFreed(snap.freed);
    this.#index.advanceTo(snap.upto);
    const held = this.#held ?? [];
    this.#held = undefined;
    // After a new epoch every event is of the new history, whatever its sequence.
    let renewed = false;
    for (const t of held) {
      if (typeof t === "string") {
        this.#newEpoch(t);
        renewed = true;
      } else if (renewed || t.event.seq > snap.upto) this.#apply(t);
    }
  }

  /**
   * The main isolate's store started a new history (its stream was created again): the old one
   * is forgotten, as the main isolate forgot it.
   */
  #newEpoch(epoch: string): void {
    if (this.#held) return void this.#held.push(epoch);
    if (epoch === this.#epoch) return;
    this.#epoch = epoch;
    this.#index = new StreamIndex(this.#retention, this.#cacheEvents);
  }

  #apply(t: TailedEvent): void {
    if (this.#held) return void this.#held.push(t);
    const unread = this.#index.unreadThrough(t);
    if (this.#index.apply(t)) this.#listener(t.event, unread);
    this.#waiters.wake();
  }

  get epoch(): string {
    return this.#epoch;
  }

  get lastSeq(): number {
    return this.#index.lastSeq;
  }

  get available(): boolean {
    return Atomics.load(this.#state, ENGINE_SLOT) !== ENGINE_DOWN;
  }

  onEvent(fn: (e: StoredEvent, unread: number) => void): void {
    this.#listener = fn;
  }

  waitFor(seq: number, timeoutMs: number): Promise<boolean> {
    return this.#waiters.waitFor(seq, timeoutMs);
  }

  async engineLastSeq(): Promise<number> {
    return Number(await this.#main.call("last-seq"));
  }

  /**
   * Why the main isolate's store cannot write, until it stores a publish: as this isolate's own
   * publishes were answered, and as the main isolate posts it (its own publishes and the other
   * workers').
   */
  get writeError(): string | undefined {
    return this.#writeError;
  }

  /** Why the main isolate's tail cannot read the stream, as it last posted. */
  get tailError(): string | undefined {
    return this.#tailError;
  }

  async publish(
    topic: string,
    eventId: string,
    json: string,
    nowMs: number,
    publisher?: string,
  ): Promise<number> {
    return (await this.publishOnce(topic, eventId, json, nowMs, publisher)).seq;
  }

  async publishOnce(
    topic: string,
    eventId: string,
    json: string,
    _nowMs: number,
    publisher?: string,
    digest?: string,
  ): Promise<{ seq: number; replayed: boolean }> {
    const p: IsolatePublish = { topic, eventId, json, publisher, digest };
    try {
      const a = await this.#main.call("publish", encodePublish(p));
      const stored = typeof a === "object" && a !== null && "seq" in a
        ? { seq: Number(a.seq), replayed: "replayed" in a && a.replayed === true }
        : { seq: Number(a), replayed: false };
      // An event stored before says nothing of room for a new one.
      if (!stored.replayed) this.#writeError = undefined;
      return stored;
    } catch (err) {
      // The main isolate answers within the publish deadline (--nats-timeout); past this
      // call's own bound it is a publish not acknowledged (503 to retry), never a 500.
      if (err instanceof CallTimeoutError) {
        throw new UnavailableError(
          "the relay's engine did not acknowledge the event in time; retry",
          RETRY_AFTER_SECONDS,
          { cause: err },
        );
      }
      // The main isolate's store could not write it: this isolate's /health says so too.
      if (err instanceof Error && err.message.startsWith(NOT_WRITTEN)) {
        this.#writeError = err.message.slice(NOT_WRITTEN.length);
      }
      // The main isolate's refusal of one topic too many keeps its meaning (the setting and its
      // bound) here.
      const { setting, limit } = err instanceof HttpError ? err.extra : {};
      if ((setting === "max_topics" || setting === "max_topics_per_principal") && limit) {
        throw new TopicLimitError(setting, Number(limit), { cause: err });
      }
      if (err instanceof HttpError && err.status === 422 && err.extra.header !== undefined) {
        throw new IdempotencyConflictError();
      }
      // So is the stream's refusal for good: this isolate counts and answers it.
      const { reason, stream_limit } = err instanceof HttpError ? err.extra : {};
      if (isStreamRefusalReason(reason)) {
        throw new StreamRefusedError(reason, stream_limit as StreamLimit | undefined, {
          cause: err,
        });
      }
      throw err;
    }
  }

  read(
    filter: TopicFilter,
    afterSeq: number,
    uptoSeq: number,
    limit: number,
  ): StoredEvent[] | Promise<StoredEvent[]> {
    const refs = this.#index.seqsIn(filter, afterSeq, uptoSeq, limit);
    const out = refs.map((r) => this.#index.cached(r.seq));
    if (!out.includes(undefined)) return out as StoredEvent[];
    return this.#fetch(refs, out);
  }

  /** Fills the uncached events from the main isolate; stops before the first it no longer has. */
  async #fetch(
    refs: Array<{ topic: string; seq: number }>,
    out: Array<StoredEvent | undefined>,
  ): Promise<StoredEvent[]> {
    const missing = refs.filter((_, i) => out[i] === undefined);
    const got = await this.#main.call("get", missing) as Array<StoredEvent | null>;
    let k = 0;
    for (let i = 0; i < out.length; i++) {
      if (out[i] !== undefined) continue;
      const e = got[k++];
      if (!e) {
        this.#index.markGone(refs[i].topic, refs[i].seq);
        return out.slice(0, i) as StoredEvent[];
      }
      out[i] = e;
    }
    return out as StoredEvent[];
  }

  truncatedAfter(filter: TopicFilter, afterSeq: number): boolean {
    return this.#index.truncatedAfter(filter, afterSeq);
  }

  truncation(filter: TopicFilter): Map<string, number> {
    return this.#index.truncation(filter);
  }

  oldestSeq(filter: TopicFilter): number | undefined {
    return this.#index.oldestSeq(filter);
  }

  topics(): TopicInfo[] {
    return this.#index.topics();
  }

  freed(): FreedSnapshot {
    return this.#index.freed();
  }

  expire(nowMs: number): number {
    return this.#index.expire(nowMs);
  }

  close(): void {
    this.#waiters.close();
    this.#index.clear();
  }
}
