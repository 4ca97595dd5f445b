/**
 * Writing relay events into the JetStream stream. Each publish names the topic's previous event
 * (`Iatp-Prev`) and asks the engine to check it (`expect.lastSubjectSequence`), so the chain of
 * a topic is exact even with many replicas writing; a replica that guessed wrong learns the
 * right sequence from the refusal and writes again. Publishes to one topic go one at a time
 * (the chain needs the previous sequence); different topics go in parallel. Every write carries
 * `Nats-Msg-Id` (the event id), so retrying after a lost answer cannot store it twice. A refusal
 * that is final (js_refusal.ts) ends the publish at once; an outage is retried until the deadline.
 * @module
 */
import { backoffDelay, sleep } from "../async/mod.ts";
import { errorMessage } from "../errors/mod.ts";
import {
  EngineUnavailableError,
  isEngineOutage,
  isNoResponders,
  jetStreamApiCode,
  type NatsEngine,
  topicSubject,
} from "../nats/mod.ts";
import { pubAckRefusal, type StreamRefusalReason, StreamRefusedError } from "./js_refusal.ts";
import { eventHeaders } from "./js_wire.ts";

/** The engine's code for a failed `expect.lastSubjectSequence`. */
const WRONG_LAST_SEQUENCE = 10071;
/** Backoff between writes retried during an outage. */
const OUTAGE_BACKOFF = { baseMs: 50, maxMs: 1_000 };

/** Thrown when more publishes wait than the bound allows (answered 503). */
export class PublishBusyError extends Error {
  override name = "PublishBusyError";
}

/** Options for {@linkcode StreamWriter}. */
export interface StreamWriterOptions {
  engine: NatsEngine;
  /** Subject prefix of the stream (`relay`). */
  prefix: string;
  /** Time one publish may take, retries included. */
  timeoutMs: number;
  /** Publishes waiting or in flight at once; more are refused. */
  maxPending: number;
  /** The newest sequence this replica knows on `topic` (its tail), as the first guess. */
  lastSeqOf?: (topic: string) => number;
  /**
   * Asked when no server took a publish (no responders): why the stream takes none for good (it
   * is gone, or no longer lists the relay's subjects), or undefined (a passing outage, retried).
   * Settles within `waitMs`.
   */
  streamCheck?: (waitMs: number) => Promise<StreamRefusalReason | undefined>;
  /**
   * Awaited with each acknowledged sequence before the publish resolves (the store checks that
   * it belongs to the stream it knows, not to one created again since); `corrected`: the engine
   * said the topic's last sequence was not the one this writer knew.
   */
  acked?: (topic: string, seq: number, corrected: boolean) => Promise<void>;
}

/** One event to write. */
export interface EventToWrite {
  topic: string;
  eventId: string;
  payloadJson: string;
  tsMs: number;
  publisher?: string;
}

/** The engine's last sequence on the subject, from a wrong-last-sequence refusal. */
function actualLastSequence(err: unknown): number | undefined {
  if (jetStreamApiCode(err) !== WRONG_LAST_SEQUENCE || !(err instanceof Error)) return undefined;
  const m = /wrong last sequence: (\d+)/.exec(err.message);
  return m ? Number(m[1]) : undefined;
}

/** The writer; see the module doc. */
export class StreamWriter {
  readonly #chains = new Map<string, Promise<unknown>>();
  /** Sequences this writer had acknowledged per topic, until the tail shows them. */
  readonly #acked = new Map<string, number>();
  readonly #encoder = new TextEncoder();
  #pending = 0;

  constructor(private readonly o: StreamWriterOptions) {}

  /** Publishes waiting or in flight. */
  get pending(): number {
    return this.#pending;
  }

  /** Topics whose acknowledged sequence the tail has not shown yet. */
  get remembered(): number {
    return this.#acked.size;
  }

  /** The tail applied `seq` of `topic`: the sequence acknowledged there is known now. */
  tailed(topic: string, seq: number): void {
    const acked = this.#acked.get(topic);
    if (acked !== undefined && acked <= seq) this.#acked.delete(topic);
  }

  /**
   * The tail is past `seq`: acknowledged sequences up to it are known or gone from the stream
   * (aged out, purged), so a topic never published again leaves nothing behind.
   */
  tailedThrough(seq: number): void {
    for (const [topic, acked] of this.#acked) if (acked <= seq) this.#acked.delete(topic);
  }

  /**
   * Forgets the sequences acknowledged so far (the stream was created again: its numbering
   * started over, and a topic's first guess is the tail's again).
   */
  forget(): void {
    this.#acked.clear();
  }

  /**
   * Writes one event; resolves with its stream sequence once the engine acknowledged it.
   * @throws {PublishBusyError} when {@linkcode StreamWriterOptions.maxPending} are waiting
   * @throws {EngineUnavailableError} when the engine did not acknowledge in time
   * @throws {StreamRefusedError} when the stream refused it for good (full, sealed, gone...)
   */
  publish(e: EventToWrite): Promise<number> {
    return this.publishAck(e).then((a) => a.seq);
  }

  /**
   * {@linkcode publish}, telling an event the engine had already (its event id, the message id,
   * within the stream's duplicate window: `duplicate`, with the sequence it was stored at).
   * @throws as `publish`
   */
  publishAck(e: EventToWrite): Promise<{ seq: number; duplicate: boolean }> {
    if (this.#pending >= this.o.maxPending) {
      return Promise.reject(
        new PublishBusyError(`${this.o.maxPending} publishes are waiting for the engine`),
      );
    }
    this.#pending++;
    // The deadline runs from now: a publish waiting behind its topic's earlier ones (each
    // retried until its own deadline while the engine is away) is not given a fresh one.
    const until = Date.now() + this.o.timeoutMs;
    const before = this.#chains.get(e.topic) ?? Promise.resolve();
    const result = before.then(() => this.#write(e, until));
    const settled = result.then(() => {}, () => {});
    this.#chains.set(e.topic, settled);
    void settled.then(() => {
      this.#pending--;
      if (this.#chains.get(e.topic) === settled) this.#chains.delete(e.topic);
    });
    return result;
  }

  #known(topic: string): number {
    const tail = this.o.lastSeqOf?.(topic) ?? 0;
    const acked = this.#acked.get(topic);
    if (acked === undefined) return tail;
    if (tail >= acked) {
      this.#acked.delete(topic);
      return tail;
    }
    return acked;
  }

  async #write(
    e: EventToWrite,
    until: number,
  ): Promise<{ seq: number; duplicate: boolean }> {
    const subject = topicSubject(this.o.prefix, e.topic);
    const body = this.#encoder.encode(e.payloadJson);
    const known = this.#known(e.topic);
    let expect = known;
    let outages = 0;
    // A wrong `prev` guess means another replica wrote the topic meanwhile (progress, not a
    // fault): it is retried with the engine's answer until the deadline, like an outage.
    for (;;) {
      const left = until - Date.now();
      try {
        if (left <= 0) throw new Error(`no acknowledgement within ${this.o.timeoutMs} ms`);
        // An empty subject (every event aged out) keeps pointing at the last event known.
        const prev = expect === 0 ? known : expect;
        const ack = await this.o.engine.js.publish(subject, body, {
          msgID: e.eventId,
          expect: { lastSubjectSequence: expect },
          headers: eventHeaders(this.o.engine, {
            eventId: e.eventId,
            tsMs: e.tsMs,
            prev,
            publisher: e.publisher,
          }),
          timeout: left,
        });
        // A duplicate was stored before, at `ack.seq`: nothing new to check.
        if (ack.duplicate) return { seq: ack.seq, duplicate: true };
        if (ack.seq > (this.#acked.get(e.topic) ?? 0)) this.#acked.set(e.topic, ack.seq);
        await this.o.acked?.(e.topic, ack.seq, expect !== known);
        return { seq: ack.seq, duplicate: false };
      } catch (err) {
        const actual = actualLastSequence(err);
        if (actual !== undefined && Date.now() < until) {
          expect = actual;
          continue;
        }
        const refused = pubAckRefusal(err);
        if (refused) throw refused;
        if (isNoResponders(err) && this.o.streamCheck && Date.now() < until) {
          const why = await this.o.streamCheck(until - Date.now());
          if (why) throw new StreamRefusedError(why, undefined, { cause: err });
        }
        if (isEngineOutage(err) && Date.now() < until) {
          await sleep(Math.min(backoffDelay(outages++, OUTAGE_BACKOFF), until - Date.now()));
          continue;
        }
        throw new EngineUnavailableError(
          `${this.o.engine.display}: publish not acknowledged: ${errorMessage(err)}`,
          { cause: err },
        );
      }
    }
  }
}
