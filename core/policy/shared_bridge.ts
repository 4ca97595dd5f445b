/**
 * The decision loop shared by several policy replicas on NATS JetStream: the replicas pull the
 * intents from one durable consumer on the relay's stream (each intent goes to one replica),
 * and each tx_id's decision is recorded in a JetStream KV bucket with a create that only the
 * first writer wins, so a tx_id is decided once whichever replica sees it. An intent is
 * acknowledged only after its decision is recorded, published and appended to the ledger; a
 * replica that dies before that leaves the intent to another replica once `ackWaitMs` passed,
 * which finds the recorded decision and delivers that one (the ledger's idempotency key
 * absorbs a second append). The record is then marked delivered, so a later redelivery of the
 * same intent is acknowledged without publishing again.
 * @module
 */
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { backoffDelay, delayOf, sleep } from "../async/mod.ts";
import { sha256Hex } from "../crypto/mod.ts";
import { errorMessage, errorReason } from "../errors/mod.ts";
import type { ComponentHealth } from "../http/mod.ts";
import { isoTimestamp, LogEvery } from "../log/mod.ts";
import { jetStreamApiCode, type NatsEngine, openKv, topicSubject } from "../nats/mod.ts";
import { streamRelayEvent } from "../relay/mod.ts";
import {
  type BridgeOptions,
  decideIntent,
  deliverDecision,
  INTENT_TOPIC,
  refusedHealth,
  stillRefused,
  txIdOf,
} from "./bridge.ts";
import { type IntentReader, loadIntentReader } from "./intent.ts";
import type { Decision } from "./engine.ts";

/** The engine's codes for a create that found the key already there. */
const KEY_EXISTS = new Set([10071, 10164]);
/** Delay before an intent whose decision could not be delivered is offered again. */
const RETRY_DELAY_MS = 1_000;
/**
 * A pull lasts this long; the server sends heartbeats every half of it, so a server that keeps
 * the connection open but stopped answering (frozen, or a link that drops everything) is
 * noticed after {@linkcode MISSED_HEARTBEATS} of them.
 */
const PULL_EXPIRES_MS = 4_000;
/** Missed heartbeats after which the queue counts as interrupted and its consumer is asked again. */
const MISSED_HEARTBEATS = 3;

/** Options for {@linkcode SharedDecisionBridge}. */
export interface SharedBridgeOptions extends Omit<BridgeOptions, "state" | "redeliverMs"> {
  engine: BridgeOptions["engine"];
  nats: NatsEngine;
  /** The relay's stream and subject prefix. */
  stream: string;
  prefix: string;
  /** KV bucket of decisions (created when missing). */
  bucket: string;
  /** Copies of the bucket the NATS cluster keeps (when it is created). */
  replicas: number;
  /** Silence after which an intent a replica took goes to another replica. */
  ackWaitMs: number;
}

/** One tx_id's record in the bucket. */
interface DecisionRecord {
  decision: Decision;
  delivered: boolean;
  /** The relay took it (absent in records written before this field). */
  published?: boolean;
}

/** The shared loop; see the module doc. */
export class SharedDecisionBridge {
  #kv: KV | undefined;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;
  /** Why the shared intent queue is not being read (until a consumer is open again). */
  #interrupted: string | undefined = "not started";
  /** Why the latest delivery failed (relay or ledger out of reach), and since when. */
  #undelivered: { reason: string; since: string } | undefined;
  /** Why the relay or the ledger refused the latest decision for good (not retried), and since when. */
  #refused: { reason: string; since: string } | undefined;
  /**
   * Intents offered again fail alike (an engine or bucket that refuses every one, retried each
   * second): one line a minute, with their count.
   */
  readonly #retries = new LogEvery();
  readonly #queueFaults = new LogEvery();
  readonly #encoder = new TextEncoder();

  #read: IntentReader | undefined;

  constructor(readonly o: SharedBridgeOptions) {}

  /**
   * Opens the bucket and the shared consumer, then takes intents.
   * @throws {Error} when the engine refuses the bucket or the consumer (the relay's stream must
   * exist)
   */
  async start(): Promise<void> {
    this.#read = await loadIntentReader();
    const { nats } = this.o;
    this.#kv = await openKv(nats.js, this.o.bucket, {
      history: 1,
      replicas: this.o.replicas,
    });
    await nats.jsm.consumers.add(this.o.stream, {
      durable_name: "policy-intents",
      filter_subject: topicSubject(this.o.prefix, INTENT_TOPIC),
      ack_policy: "explicit",
      deliver_policy: "all",
      ack_wait: this.o.ackWaitMs * 1_000_000,
      max_ack_pending: 64,
    });
    const bounds = (await nats.jsm.streams.info(this.o.stream)).config;
    this.o.log.info("intents wait in the relay's stream until a replica acknowledges them", {
      stream: this.o.stream,
      max_per_topic: bounds.max_msgs_per_subject,
      max_age_ms: bounds.max_age / 1_000_000,
    });
    this.#loop = this.#run();
  }

  /**
   * `/health`'s components: `queue`, not ok while the shared intent queue cannot be read (NATS
   * out of reach, or the consumer could not be opened), and `delivery`, not ok while the latest
   * decision could not be published or appended to the ledger (its intent is offered again), or
   * was refused for good (a credential without the scope, say: not offered again).
   */
  health(): Record<string, ComponentHealth> {
    const why = this.o.nats.connected ? this.#interrupted : "NATS is unreachable";
    const u = this.#undelivered;
    return {
      queue: why === undefined ? { ok: true } : { ok: false, reason: why },
      delivery: u === undefined ? refusedHealth(this.#refused) : {
        ok: false,
        // Not "recorded": the record itself may be what failed (a bucket refusing it).
        reason: `decisions not delivered, their intents offered again: ${u.reason}`,
        since: u.since,
      },
    };
  }

  async #run(): Promise<void> {
    for (let failures = 0; !this.#closed;) {
      try {
        const consumer = await this.o.nats.js.consumers.get(this.o.stream, "policy-intents");
        const messages = await consumer.consume({ max_messages: 64, expires: PULL_EXPIRES_MS });
        this.#messages = messages;
        // Closed while the consumer was being made: close() could not end this one.
        if (this.#closed) messages.stop();
        failures = 0;
        this.#interrupted = undefined;
        void this.#watch(messages);
        for await (const m of messages) await this.#handle(m);
      } catch (err) {
        this.#interrupted = errorReason(err);
        if (!this.#closed) this.#queueFault(errorMessage(err));
      }
      if (!this.#closed) await sleep(backoffDelay(failures++, { baseMs: 100, maxMs: 5_000 }));
    }
  }

  /**
   * Ends a pull the engine stopped answering (its heartbeats missed while the connection stays
   * open): `/health` says so, and the loop asks for the consumer again, which succeeds once the
   * engine answers.
   */
  async #watch(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (s.type === "heartbeats_missed" && s.count >= MISSED_HEARTBEATS) {
        this.#interrupted = "the engine stopped answering";
        this.#queueFault(this.#interrupted);
        messages.stop();
        return;
      }
    }
  }

  /** The queue's interruptions, alike while the engine stays away: one line a minute, counted. */
  #queueFault(err: string): void {
    const count = this.#queueFaults.due();
    if (count !== undefined) this.o.log.warn("intent queue interrupted", { err, count });
  }

  async #handle(m: JsMsg): Promise<void> {
    const e = streamRelayEvent(this.o.prefix, {
      subject: m.subject,
      headers: m.headers,
      body: m.data,
    });
    if (e === undefined) {
      this.o.log.warn("intent queue message not written by a relay; dropped", { seq: m.seq });
      m.term();
      return;
    }
    const working = setInterval(() => m.working(), delayOf(Math.max(500, this.o.ackWaitMs / 3)));
    try {
      const payload: unknown = e.payload ?? {};
      const txId = txIdOf(payload, e.event_id);
      const key = `tx.${sha256Hex(txId)}`;
      const kv = this.#bucket();
      let { record, revision } = await this.#recorded(kv, key, payload, txId);
      if (!record.delivered) {
        this.#refused = stillRefused(
          this.#refused,
          await deliverDecision(this.o, record.decision, {
            published: record.published === true,
            // Recorded, so a retry after a ledger failure only appends it.
            onPublished: async () => {
              record = { ...record, published: true };
              revision = await kv.update(key, this.#json(record), revision);
            },
          }),
        );
        await kv.update(key, this.#json({ ...record, delivered: true }), revision);
      }
      m.ack();
      this.#undelivered = undefined;
    } catch (err) {
      // Without the tx_id: /health is open to any viewer.
      this.#undelivered = {
        reason: errorReason(err),
        since: this.#undelivered?.since ?? isoTimestamp(Date.now()),
      };
      const count = this.#retries.due();
      if (count !== undefined) {
        this.o.log.warn("decision not delivered yet; the intent is offered again", {
          err: errorMessage(err),
          count,
        });
      }
      m.nak(RETRY_DELAY_MS);
    } finally {
      clearInterval(working);
    }
  }

  /** The tx_id's record: the one already there, or a new decision that won the create. */
  async #recorded(
    kv: KV,
    key: string,
    payload: unknown,
    txId: string,
  ): Promise<{ record: DecisionRecord; revision: number }> {
    const found = await kv.get(key);
    if (found && found.operation === "PUT") {
      return { record: found.json<DecisionRecord>(), revision: found.revision };
    }
    const read = this.#read ?? await loadIntentReader();
    const decision = decideIntent(this.o, read, payload, txId);
    try {
      const revision = await kv.create(key, this.#json({ decision, delivered: false }));
      this.o.onDecision?.(decision);
      return { record: { decision, delivered: false }, revision };
    } catch (err) {
      const code = jetStreamApiCode(err);
      if (code === undefined || !KEY_EXISTS.has(code)) throw err;
      // Another replica decided the same tx_id at the same moment: its decision stands.
      const winner = await kv.get(key);
      if (!winner) throw new Error(`decision of ${txId} vanished`, { cause: err });
      return { record: winner.json<DecisionRecord>(), revision: winner.revision };
    }
  }

  #bucket(): KV {
    if (this.#kv === undefined) throw new Error("the decisions bucket is not open (start first)");
    return this.#kv;
  }

  #json(r: DecisionRecord): Uint8Array {
    return this.#encoder.encode(JSON.stringify(r));
  }

  /** Stops taking intents (the one being handled finishes or goes back to the queue). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#messages?.stop();
    await this.#loop;
  }
}
