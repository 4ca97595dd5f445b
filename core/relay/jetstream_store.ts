/**
 * The relay's log in a NATS JetStream stream, shared by any number of relay replicas. The
 * stream sequence is the relay-wide sequence and the stream's creation time its epoch, so an
 * SSE id means the same on every replica. The epoch is recorded in the stream's description the
 * first time a relay opens it, and read from there after (see {@linkcode epochOf}). Each replica
 * tails the stream with an ordered consumer into its {@linkcode StreamIndex} and hands every
 * event to its fan-out in sequence order; its own publishes come back the same way. History
 * bounds are the stream's `max_msgs_per_subject` and `max_age`.
 *
 * A stream deleted and created again (by another replica's start) is a new history: its
 * numbering starts over. A replica notices the new creation time whenever its tail's consumer is
 * made again, on its stall and purge checks, and when the engine corrects a publish's last
 * sequence of its topic, and follows it as a restart would: the new epoch, an empty
 * index, the tail from the new stream's first event. No event of the new stream is read under
 * the old epoch: a consumer the client made again by itself (it would go on at the old position
 * in the new stream) is not read from until the stream's epoch was checked.
 * @module
 */
import type { ConsumerMessages, JsMsg, StreamConfig, StreamInfo } from "@nats-io/jetstream";
import { backoffDelay, deadline, sleep } from "../async/mod.ts";
import { ConfigError, errorMessage } from "../errors/mod.ts";
import { LogEvery, type Logger } from "../log/mod.ts";
import { EngineUnavailableError, jetStreamApiCode, type NatsEngine } from "../nats/mod.ts";
import { TopicFilter } from "../topic/mod.ts";
import { StreamIndex } from "./js_index.ts";
import { STREAM_NOT_FOUND, type StreamRefusalReason, StreamRefusedError } from "./js_refusal.ts";
import { type StreamMessage, tailedEvent } from "./js_wire.ts";
import { StreamWriter } from "./js_writer.ts";
import { TailStallGuard } from "./js_stall.ts";
import { TailWaiters } from "./tail_waiters.ts";
import {
  type FreedSnapshot,
  NOT_WRITTEN,
  type RemoteRelayStore,
  type Retention,
  type StoredEvent,
  type TopicInfo,
} from "./store.ts";

/** History fetched from the stream at once (direct gets in flight). */
const FETCH_WINDOW = 32;
/**
 * A pull of the tail lasts this long; the server sends heartbeats every half of it, and two
 * missed heartbeats (a node that died under the consumer) make the client recreate it.
 */
const TAIL_EXPIRES_MS = 4_000;
/** Missed heartbeats after which the tail's consumer is made again. */
const TAIL_MISSED_HEARTBEATS = 3;
/** How often a tail that applied nothing is compared with the stream's newest sequence. */
const TAIL_STALL_CHECK_MS = 5_000;
/** Room for headers beside the largest payload. */
const HEADER_ROOM = 1024;
/**
 * How long the answer of a check of the stream (after a publish nobody took) serves the
 * publishes that follow, so a gone stream costs the engine one lookup a second, not one a publish.
 */
const STREAM_CHECK_REUSE_MS = 1_000;

/** Options for {@linkcode openJetStreamStore}. */
export interface JetStreamStoreOptions {
  engine: NatsEngine;
  log: Logger;
  /** Stream name. */
  stream: string;
  /** Subject prefix: events of topic `t` are `<prefix>.<t>`. */
  prefix: string;
  /** Copies of the stream the cluster keeps (1, 3 or 5). */
  replicas: number;
  retention: Retention;
  maxPayloadBytes: number;
  duplicateWindowMs: number;
  /** Events whose data this replica caches for replays. */
  cacheEvents: number;
  maxPendingPublishes: number;
  /** Time a publish may wait for its acknowledgement, retries included. */
  publishTimeoutMs: number;
  /** Time the tail may take to read the stream's history at start. */
  catchupTimeoutMs: number;
}

/** One check of the stream: its answer, and when it came (undefined: still asking). */
interface StreamCheck {
  answer: Promise<StreamRefusalReason | undefined>;
  doneAt?: number;
}

/** The epoch of a stream: its creation time in ns, base 36. */
export function streamEpoch(created: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(created);
  const secs = Date.parse(m ? `${m[1]}${m[3]}` : created);
  if (!Number.isFinite(secs)) throw new Error(`stream creation time unreadable: ${created}`);
  const ns = BigInt(secs) * 1_000_000n + BigInt((m?.[2] ?? "").padEnd(9, "0"));
  return ns.toString(36);
}

/** The epoch marker in a stream's description: `iatp-epoch:<epoch>`. */
const EPOCH_MARKER = /(?:^|\s)iatp-epoch:([0-9a-z]+)(?=\s|$)/;

/**
 * The epoch of the stream `info` describes: the one its description records, else its creation
 * time's. Why recorded: a single nats-server 2.9 (not a cluster, whose meta group keeps it)
 * restores a stream's `created` after a restart but keeps the restart's time in its store, and
 * writes that to disk on the next update of the stream's configuration; after the restart that
 * follows, `created` reports the earlier restart's time while the stream and its numbering go
 * on. The description, which a stream created again starts without, keeps the creation time as
 * first seen.
 */
export function epochOf(info: StreamInfo): string {
  return EPOCH_MARKER.exec(info.config.description ?? "")?.[1] ?? streamEpoch(info.created);
}

/** `description` with the epoch marker for `epoch` added (after any text already there). */
function withEpochMarker(description: string | undefined, epoch: string): string {
  const text = (description ?? "").trim();
  return `${text ? `${text} ` : "iatp relay events "}iatp-epoch:${epoch}`;
}

function streamConfig(o: JetStreamStoreOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: o.stream,
    subjects: [`${o.prefix}.>`],
    retention: "limits",
    storage: "file",
    discard: "old",
    num_replicas: o.replicas,
    max_msgs_per_subject: o.retention.maxEventsPerTopic,
    max_age: o.retention.maxAgeMs * 1_000_000,
    // The engine refuses a duplicate window longer than the age bound.
    duplicate_window:
      (o.retention.maxAgeMs > 0
        ? Math.min(o.duplicateWindowMs, o.retention.maxAgeMs)
        : o.duplicateWindowMs) * 1_000_000,
    max_msg_size: o.maxPayloadBytes + HEADER_ROOM,
    allow_direct: true,
    // A stream that answers no publish (made by another tool with `no_ack`) still stores them:
    // every publish would be answered 503 at its deadline while its event was kept.
    no_ack: false,
  };
}

/**
 * Creates the stream, or brings an existing one's bounds to the settings; either way records its
 * epoch in its description when it does not hold one yet (see {@linkcode epochOf}).
 */
async function ensureStream(o: JetStreamStoreOptions): Promise<StreamInfo> {
  const want = streamConfig(o);
  let info: StreamInfo;
  try {
    info = await o.engine.jsm.streams.info(o.stream);
  } catch (err) {
    if (!/not found/i.test(errorMessage(err))) throw err;
    o.log.info("creating relay stream", { stream: o.stream, replicas: o.replicas });
    info = await o.engine.jsm.streams.add(want);
  }
  const c = info.config;
  // Events are written to `<prefix>.<topic>`: a stream that does not hold them would leave the
  // relay's tail empty while another stream (or none) took its publishes.
  const subject = `${o.prefix}.>`;
  if (!(c.subjects ?? []).includes(subject)) {
    throw new ConfigError(
      "stream_subjects",
      { kind: "default" },
      `the subjects of stream ${o.stream} to include ${subject}`,
      `${(c.subjects ?? []).join(", ") || "no subjects"}`,
    );
  }
  const differs = ([
    "max_msgs_per_subject",
    "max_age",
    "duplicate_window",
    "max_msg_size",
    "no_ack",
  ] as const).filter((k) => (c[k] ?? false) !== want[k]);
  const marked = EPOCH_MARKER.test(c.description ?? "");
  if (differs.length === 0 && c.allow_direct && marked) return info;
  if (differs.length > 0 || !c.allow_direct) {
    o.log.warn("relay stream bounds differ from the settings; updating", { changed: differs });
  }
  // The creation time as first seen: an update of the configuration may make a later restart
  // report another.
  const description = marked ? c.description : withEpochMarker(c.description, epochOf(info));
  const updated = await o.engine.jsm.streams.update(o.stream, {
    ...c,
    ...want,
    subjects: c.subjects,
    description,
  });
  if (marked || updated.created === info.created) return updated;
  // Deleted and created again between the look and the update (the update never changes the
  // creation time it reports): the record written is the old stream's, and would give the new
  // one, numbered from 1 again, the old ids. The new stream's own takes its place.
  o.log.warn("relay stream was created again while starting; recording its own epoch", {
    stream: o.stream,
  });
  return await o.engine.jsm.streams.update(o.stream, {
    ...updated.config,
    description: withEpochMarker(c.description, streamEpoch(updated.created)),
  });
}

/**
 * Refuses a payload bound the server cannot carry: its `max_payload` (1 MiB by default) bounds
 * every message, headers included, and the client refuses a larger one before sending it.
 * @throws {ConfigError} naming `max_payload_bytes` and the server's bound
 */
function checkServerPayload(o: JetStreamStoreOptions): void {
  const server = o.engine.nc.info?.max_payload;
  if (server === undefined || o.maxPayloadBytes + HEADER_ROOM <= server) return;
  throw new ConfigError(
    "max_payload_bytes",
    { kind: "default" },
    `at most ${server - HEADER_ROOM} (the NATS server's max_payload of ${server} bytes, less ` +
      `${HEADER_ROOM} for the event's headers)`,
    String(o.maxPayloadBytes),
  );
}

/**
 * Opens the stream (creating it when missing) and reads its history into the index.
 * @throws {ConfigError} naming `stream_subjects` when an existing stream does not hold the
 * relay's subjects (`<prefix>.>`), or `max_payload_bytes` when it is above what the server's
 * `max_payload` carries
 * @throws {EngineUnavailableError} when the engine does not answer or the tail does not catch up
 * within {@linkcode JetStreamStoreOptions.catchupTimeoutMs}
 */
export async function openJetStreamStore(o: JetStreamStoreOptions): Promise<JetStreamStore> {
  checkServerPayload(o);
  let info: StreamInfo;
  try {
    info = await ensureStream(o);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new EngineUnavailableError(
      `${o.engine.display}: stream ${o.stream}: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  const store = new JetStreamStore(o, epochOf(info));
  await store.start(info);
  return store;
}

/** The store; see the module doc. */
export class JetStreamStore implements RemoteRelayStore {
  readonly remote = true as const;
  #index: StreamIndex;
  #epoch: string;
  readonly #writer: StreamWriter;
  #listener: (e: StoredEvent, unread: number) => void = () => {};
  readonly #waiters = new TailWaiters(() => this.#index.lastSeq);
  #messages: ConsumerMessages | undefined;
  /**
   * The name of the tail's consumer, made after the stream's epoch was checked; a message from
   * any other (the client made it again by itself) is not applied.
   */
  #tailConsumer: string | undefined;
  #tail: Promise<void> | undefined;
  #caughtUp = false;
  #closed = false;
  #guard: TailStallGuard | undefined;
  /** The lookup of the engine's newest sequence in flight, and the one queued after it. */
  #lastSeqAsk: Promise<number> | undefined;
  #lastSeqNext: Promise<number> | undefined;
  /**
   * Topics this replica's publishes are creating, by creator: sent (or acknowledged) but not
   * read back by the tail yet. The topic bounds count them, so publishes in flight at once
   * cannot pass them.
   */
  readonly #creating = new Map<string, string | undefined>();
  readonly #creatingBy = new Map<string | undefined, number>();
  /** The last check of the stream: its answer, and when it came (undefined: still asking). */
  #check: StreamCheck | undefined;
  /** The tail's interruptions, logged once a minute. */
  readonly #tailFaults = new LogEvery();
  /** Topics whose events left the stream before the tail read them, logged once a minute. */
  readonly #unreadFaults = new LogEvery();
  /** The stream-wide refusal of the last publish, until one is stored. */
  #writeError: string | undefined;
  /** Why the tail could not be made, until it is. */
  #tailError: string | undefined;
  /**
   * Of the topics being created, those the engine acknowledged: the sequence and when. Each
   * stops counting as being created once the tail is past its sequence (read back, or gone from
   * the stream before the tail got to it), or `publishTimeoutMs` after its acknowledgement.
   */
  readonly #acked = new Map<string, { seq: number; atMs: number }>();
  /** A look at the stream's first sequence (to notice a purge) is under way. */
  #purgeCheck = false;

  constructor(private readonly o: JetStreamStoreOptions, epoch: string) {
    this.#epoch = epoch;
    this.#index = new StreamIndex(o.retention, o.cacheEvents);
    this.#writer = new StreamWriter({
      engine: o.engine,
      prefix: o.prefix,
      timeoutMs: o.publishTimeoutMs,
      maxPending: o.maxPendingPublishes,
      lastSeqOf: (t) => this.#index.topicLastSeq(t),
      streamCheck: (waitMs) => this.#streamCheck(waitMs),
      acked: (topic, seq, corrected) => this.#checkAcked(topic, seq, corrected),
    });
  }

  /** Why the stream refuses every publish, from the last one refused so (until one is stored). */
  get writeError(): string | undefined {
    return this.#writeError;
  }

  /** Why the tail could not be made (and so nothing new is read), until it is. */
  get tailError(): string | undefined {
    return this.#tailError;
  }

  /**
   * Why the stream takes no publish for good (gone, or without the relay's subjects), or
   * undefined when it is there or the engine does not say within `waitMs`.
   */
  async #streamCheck(waitMs: number): Promise<StreamRefusalReason | undefined> {
    let check = this.#check;
    if (
      !check || (check.doneAt !== undefined && Date.now() - check.doneAt >= STREAM_CHECK_REUSE_MS)
    ) {
      const asked: StreamCheck = check = { answer: this.#askStream() };
      void asked.answer.then(() => asked.doneAt = Date.now());
      this.#check = asked;
    }
    try {
      return await deadline(check.answer, waitMs);
    } catch {
      return undefined;
    }
  }

  async #askStream(): Promise<StreamRefusalReason | undefined> {
    try {
      const info = await this.o.engine.jsm.streams.info(this.o.stream);
      return (info.config.subjects ?? []).includes(`${this.o.prefix}.>`)
        ? undefined
        : "stream_subjects";
    } catch (err) {
      return jetStreamApiCode(err) === STREAM_NOT_FOUND ? "stream_gone" : undefined;
    }
  }

  /** The stream's epoch: its creation time (a new one once the stream was created again). */
  get epoch(): string {
    return this.#epoch;
  }

  get lastSeq(): number {
    return this.#index.lastSeq;
  }

  /**
   * Looks at the stream when an acknowledgement may come from a stream created again (the
   * answer's id must carry the new epoch): the engine corrected the topic's last sequence (another
   * replica wrote it meanwhile, or the numbering started over), or the sequence is one the tail
   * passed without reading it on its topic. Other acknowledgements cost nothing.
   */
  async #checkAcked(topic: string, seq: number, corrected: boolean): Promise<void> {
    if (!corrected) {
      if (seq > this.#index.lastSeq) return;
      if (this.#index.seqsIn(new TopicFilter([topic]), seq - 1, seq, 1).length > 0) return;
    }
    try {
      this.#follow(await this.o.engine.jsm.streams.info(this.o.stream));
    } catch {
      // Out of reach: the tail's checks look again.
    }
  }

  /**
   * Follows a stream created again since this replica last looked (`info`: the stream now):
   * takes its epoch, forgets the old history, and has the tail read the new stream from its
   * first event. Returns true when the epoch changed.
   */
  #follow(info: StreamInfo): boolean {
    const epoch = epochOf(info);
    if (epoch === this.#epoch || this.#closed) return false;
    this.o.log.warn("relay stream was created again; following its new history", {
      stream: this.o.stream,
      epoch,
      previous_epoch: this.#epoch,
    });
    this.#epoch = epoch;
    this.#tailConsumer = undefined;
    this.#index = new StreamIndex(this.o.retention, this.o.cacheEvents);
    this.#writer.forget();
    this.#messages?.stop();
    return true;
  }

  get available(): boolean {
    return this.o.engine.connected;
  }

  /** Starts the tail and waits until it has read the history present at start. */
  async start(info: StreamInfo): Promise<void> {
    const target = info.state.last_seq;
    this.#tail = this.#runTail();
    this.#guard = new TailStallGuard({
      intervalMs: TAIL_STALL_CHECK_MS,
      behind: async () => {
        const now = await this.o.engine.jsm.streams.info(this.o.stream);
        return !this.#follow(now) && now.state.last_seq > this.#index.lastSeq;
      },
      onStall: () => {
        this.o.log.warn("relay stream tail stalled; recreating its consumer", {
          stream: this.o.stream,
          next_seq: this.#index.lastSeq + 1,
        });
        this.#messages?.stop();
      },
    });
    const until = Date.now() + this.o.catchupTimeoutMs;
    // Caught up: the target reached, or the consumer said nothing is pending (the newest events
    // may have aged out of the stream since).
    while (info.state.messages > 0 && !this.#caughtUp && this.#index.lastSeq < target) {
      const left = until - Date.now();
      if (left <= 0) {
        await this.close();
        throw new EngineUnavailableError(
          `${this.o.engine.display}: stream ${this.o.stream}: history not read within ` +
            `${this.o.catchupTimeoutMs} ms`,
        );
      }
      await this.waitFor(target, Math.min(100, left));
    }
    // Unless the stream was created again meanwhile: its numbering is not the target's.
    if (epochOf(info) === this.#epoch) this.#index.advanceTo(target);
    this.o.log.info("relay stream tail caught up", {
      stream: this.o.stream,
      last_seq: this.#index.lastSeq,
      topics: this.#index.topicCount,
    });
  }

  async #runTail(): Promise<void> {
    for (let failures = 0; !this.#closed;) {
      try {
        this.#tailConsumer = undefined;
        this.#follow(await this.o.engine.jsm.streams.info(this.o.stream));
        const from = this.#index.lastSeq + 1;
        // The client names the consumers it makes `<prefix>_1`, `<prefix>_2`...: the first is the
        // one made here.
        const prefix = `iatp_${crypto.randomUUID().replaceAll("-", "")}`;
        const consumer = await this.o.engine.js.consumers.get(this.o.stream, {
          name_prefix: prefix,
          ...(from <= 1
            ? { deliver_policy: "all" }
            : { deliver_policy: "by_start_sequence", opt_start_seq: from }),
        });
        // The stream may have been created again since it was looked at above: a consumer made on
        // the new one would read it, from this history's position, under the old epoch.
        if (this.#follow(await this.o.engine.jsm.streams.info(this.o.stream))) {
          void consumer.delete().catch(() => {});
          continue;
        }
        const messages = await consumer.consume({ max_messages: 1024, expires: TAIL_EXPIRES_MS });
        this.#messages = messages;
        this.#tailConsumer = `${prefix}_1`;
        this.#tailError = undefined;
        // Closed while the consumer was being made: close() could not stop this one.
        if (this.#closed) messages.stop();
        void this.#watchTail(messages);
        failures = 0;
        for await (const m of messages) this.#apply(m);
      } catch (err) {
        if (this.#closed) break;
        this.#tailError = errorMessage(err);
        // While the stream is gone this repeats every few seconds: one line a minute, counted.
        const n = this.#tailFaults.due();
        if (n !== undefined) {
          this.o.log.warn("relay stream tail interrupted; resuming", {
            err: errorMessage(err),
            count: n,
          });
        }
      }
      if (!this.#closed) await sleep(backoffDelay(failures++, { baseMs: 100, maxMs: 5_000 }));
    }
  }

  /**
   * Ends a tail whose consumer went silent: the client keeps asking a consumer that lived on a
   * node now dead, so after {@linkcode TAIL_MISSED_HEARTBEATS} the tail is made again from the
   * next sequence this replica has not read. So is one whose consumer the client is making again
   * by itself.
   */
  async #watchTail(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      // The client is making the consumer again by itself (its own was deleted, with its
      // stream perhaps): the tail makes it instead, once it checked the stream's epoch.
      if (s.type === "reset") {
        if (this.#messages === messages) this.#tailConsumer = undefined;
        messages.stop();
        return;
      }
      if (s.type === "heartbeats_missed" && s.count >= TAIL_MISSED_HEARTBEATS) {
        this.o.log.warn("relay stream tail silent; recreating its consumer", {
          stream: this.o.stream,
          next_seq: this.#index.lastSeq + 1,
        });
        messages.stop();
        return;
      }
    }
  }

  #apply(m: JsMsg): void {
    if (m.info.consumer !== this.#tailConsumer) {
      // The client made the consumer again by itself, at the old position: in a stream created
      // again meanwhile, that would read the new history under the old epoch. The tail is made
      // again once the stream's epoch was checked (this message is read again then).
      if (this.#tailConsumer !== undefined) {
        this.o.log.debug("relay stream tail's consumer made again; checking the stream", {
          stream: this.o.stream,
          next_seq: this.#index.lastSeq + 1,
        });
      }
      this.#tailConsumer = undefined;
      this.#messages?.stop();
      return;
    }
    this.#guard?.progressed();
    if (m.info.pending === 0) this.#caughtUp = true;
    const t = tailedEvent(this.o.prefix, {
      seq: m.seq,
      subject: m.subject,
      headers: m.headers,
      storedMs: Number(m.timestampNanos / 1_000_000n),
      body: m.data,
    });
    if (t === undefined) {
      this.o.log.warn("stream message not written by a relay; skipped", { seq: m.seq });
      this.#index.advanceTo(m.seq);
    } else {
      // Events of the topic the stream evicted before this replica got to them (its tail was
      // cut off from the engine while they came and went): the fan-out is told, so no live
      // subscriber goes on past them as if there were none.
      const unread = this.#index.unreadThrough(t);
      if (this.#index.apply(t)) {
        if (unread > 0) this.#logUnread(unread, t.event.seq);
        this.#writer.tailed(t.event.topic, t.event.seq);
        if (this.#creating.size > 0) this.#created(t.event.topic);
        this.#listener(t.event, unread);
      }
    }
    if (this.#acked.size > 0) this.#settleCreating(this.#index.lastSeq, Date.now());
    this.#waiters.wake();
  }

  /** One line a minute, counted: events of a topic left the stream before the tail read them. */
  #logUnread(through: number, seq: number): void {
    const n = this.#unreadFaults.due();
    if (n === undefined) return;
    this.o.log.warn(
      "relay stream events evicted before this replica read them; their subscribers resume with a reset",
      {
        stream: this.o.stream,
        through,
        seq,
        count: n,
      },
    );
  }

  onEvent(fn: (e: StoredEvent, unread: number) => void): void {
    this.#listener = fn;
  }

  waitFor(seq: number, timeoutMs: number): Promise<boolean> {
    return this.#waiters.waitFor(seq, timeoutMs);
  }

  /**
   * The stream's newest sequence, asked of the engine. A caller that comes while a lookup is in
   * flight joins the next one (at most one queued, started when that one ends): each gets a
   * sequence read after it asked, and a burst of `GET /topics` costs the engine two requests, not
   * one each.
   */
  engineLastSeq(): Promise<number> {
    const asking = this.#lastSeqAsk;
    if (asking === undefined) return this.#askLastSeq();
    this.#lastSeqNext ??= asking.then(() => {}, () => {}).then(() => {
      this.#lastSeqNext = undefined;
      return this.#askLastSeq();
    });
    return this.#lastSeqNext;
  }

  /** One lookup of the stream's newest sequence, shared while in flight. */
  #askLastSeq(): Promise<number> {
    const ask = this.o.engine.jsm.streams.info(this.o.stream).then((i) => i.state.last_seq);
    this.#lastSeqAsk = ask;
    const done = () => {
      if (this.#lastSeqAsk === ask) this.#lastSeqAsk = undefined;
    };
    ask.then(done, done);
    return ask;
  }

  async publish(
    topic: string,
    eventId: string,
    payloadJson: string,
    nowMs: number,
    publisher?: string,
  ): Promise<number> {
    return (await this.publishOnce(topic, eventId, payloadJson, nowMs, publisher)).seq;
  }

  /**
   * {@linkcode publish}; an event id the stream had within its duplicate window is not stored
   * again: it is answered with the first sequence, `replayed` (its topic and payload are not
   * compared: the relay's own map of keyed publishes does that for the ones it stored).
   */
  publishOnce(
    topic: string,
    eventId: string,
    payloadJson: string,
    nowMs: number,
    publisher?: string,
  ): Promise<{ seq: number; replayed: boolean }> {
    const event = { topic, eventId, payloadJson, tsMs: nowMs, publisher };
    if (this.#index.hasTopic(topic) || this.#creating.has(topic)) {
      return this.#written(this.#writer.publishAck(event));
    }
    try {
      this.#index.checkNewTopic(publisher, {
        total: this.#creating.size,
        byCreator: this.#creatingBy.get(publisher) ?? 0,
      });
    } catch (err) {
      return Promise.reject(err);
    }
    this.#creating.set(topic, publisher);
    this.#creatingBy.set(publisher, (this.#creatingBy.get(publisher) ?? 0) + 1);
    const written = this.#written(this.#writer.publishAck(event));
    written.then(
      ({ seq }) => {
        if (!this.#creating.has(topic)) return;
        if (seq <= this.#index.lastSeq) this.#created(topic);
        else this.#acked.set(topic, { seq, atMs: Date.now() });
      },
      // Not written: no longer counted as being created (should another publish to it be
      // written, the tail counts the topic when it reads that one).
      () => this.#created(topic),
    );
    return written;
  }

  /** `seq` once written, keeping {@linkcode writeError} up to date. */
  async #written(
    ack: Promise<{ seq: number; duplicate: boolean }>,
  ): Promise<{ seq: number; replayed: boolean }> {
    try {
      const a = await ack;
      // A duplicate was stored before: its answer says nothing of room for a new one.
      if (!a.duplicate) this.#writeError = undefined;
      return { seq: a.seq, replayed: a.duplicate };
    } catch (err) {
      if (err instanceof StreamRefusedError && err.streamWide) {
        this.#writeError = err.message.slice(NOT_WRITTEN.length);
      }
      throw err;
    }
  }

  /**
   * Stops counting as being created the acknowledged topics whose sequence is at or below
   * `through` (the tail is past them: it read them, or they left the stream first) or whose
   * acknowledgement is older than `publishTimeoutMs`.
   */
  #settleCreating(through: number, nowMs: number): void {
    for (const [topic, a] of this.#acked) {
      if (a.seq <= through || nowMs - a.atMs > this.o.publishTimeoutMs) this.#created(topic);
    }
  }

  /** `topic` is no longer being created here: the tail read it, or its publish failed. */
  #created(topic: string): void {
    if (!this.#creating.has(topic)) return;
    const creator = this.#creating.get(topic);
    this.#creating.delete(topic);
    this.#acked.delete(topic);
    const n = (this.#creatingBy.get(creator) ?? 1) - 1;
    if (n > 0) this.#creatingBy.set(creator, n);
    else this.#creatingBy.delete(creator);
  }

  read(
    filter: TopicFilter,
    afterSeq: number,
    uptoSeq: number,
    limit: number,
  ): StoredEvent[] | Promise<StoredEvent[]> {
    const refs = this.#index.seqsIn(filter, afterSeq, uptoSeq, limit);
    const out: Array<StoredEvent | undefined> = refs.map((r) => this.#index.cached(r.seq));
    if (!out.includes(undefined)) return out as StoredEvent[];
    return this.#fetch(refs, out);
  }

  /** Fills the uncached events from the stream; stops before the first one it no longer has. */
  async #fetch(
    refs: Array<{ topic: string; seq: number }>,
    out: Array<StoredEvent | undefined>,
  ): Promise<StoredEvent[]> {
    const missing = out.flatMap((e, i) => e === undefined ? [i] : []);
    for (let at = 0; at < missing.length; at += FETCH_WINDOW) {
      const window = missing.slice(at, at + FETCH_WINDOW);
      const got = await Promise.all(window.map((i) => this.#get(refs[i].seq)));
      window.forEach((i, k) => out[i] = got[k]);
      const gone = window.findIndex((_, k) => got[k] === undefined);
      if (gone >= 0) {
        const i = window[gone];
        this.#index.markGone(refs[i].topic, refs[i].seq);
        return out.slice(0, i) as StoredEvent[];
      }
    }
    return out as StoredEvent[];
  }

  async #get(seq: number): Promise<StoredEvent | undefined> {
    const m = await this.o.engine.jsm.direct.getMessage(this.o.stream, { seq });
    if (!m) return undefined;
    const msg: StreamMessage = {
      seq: m.seq,
      subject: m.subject,
      headers: m.header,
      storedMs: m.time.getTime(),
      body: m.data,
    };
    return tailedEvent(this.o.prefix, msg)?.event;
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

  /**
   * Evicts what the stream's age bound evicted, and (without waiting for it) what a purge of the
   * stream took; frees the topics left with no event.
   */
  expire(nowMs: number): number {
    if (this.#acked.size > 0) this.#settleCreating(this.#index.lastSeq, nowMs);
    this.#writer.tailedThrough(this.#index.lastSeq);
    if (!this.#purgeCheck && !this.#closed && this.available) void this.#checkPurged();
    return this.#index.expire(nowMs);
  }

  /** Evicts from the index every sequence below the stream's first (a purge took them). */
  async #checkPurged(): Promise<void> {
    this.#purgeCheck = true;
    try {
      const info = await this.o.engine.jsm.streams.info(this.o.stream);
      // A stream created again is followed (its tail starts over): nothing of the old to evict.
      if (this.#closed || this.#follow(info)) return;
      const first = info.state.first_seq;
      const n = this.#index.dropBelow(first);
      if (n > 0) this.o.log.debug("events gone from the stream evicted", { count: n });
      if (this.#acked.size > 0) this.#settleCreating(first - 1, Date.now());
    } catch {
      // The engine is out of reach: the next round looks again.
    } finally {
      this.#purgeCheck = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#guard?.stop();
    this.#waiters.close();
    this.#messages?.stop();
    await this.#tail;
    this.#index.clear();
    await this.o.engine.close();
  }
}
