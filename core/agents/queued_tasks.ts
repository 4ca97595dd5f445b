/**
 * Relay tasks through a NATS JetStream queue, for action agents that share work: the agents of
 * one group pull from one durable consumer on the relay's stream, filtered to
 * `action.tasks.<group>` (each task keeps the publisher the relay authenticated, in a header
 * only the relay writes), so each task goes to one agent of the group. Each task is
 * acknowledged only once the agent has finished it (or reported it refused or invalid); while
 * it runs the agent tells the engine it is still working, so a task held by an agent that dies
 * is given to another agent of the group after `relay.queue_ack_wait`. Delivery is at least
 * once; the agent's record of instruction ids keeps a redelivered id it already finished from
 * running again.
 * @module
 */
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { backoffDelay, delayOf, sleep } from "../async/mod.ts";
import { resolveSecretSetting } from "../auth/mod.ts";
import { ConfigError, errorMessage } from "../errors/mod.ts";
import {
  connectNats,
  credentialsError,
  displayUrl,
  NATS_URL_EXPECTED,
  type NatsEngine,
  natsSettings,
  NatsUrlError,
  topicSubject,
} from "../nats/mod.ts";
import { streamRelayEvent } from "../relay/mod.ts";
import type { ComponentHealth } from "./health.ts";
import { tasksTopic } from "./reporter.ts";
import { takeTask, type TaskPublisherPolicy, type TaskSink } from "./relay_tasks.ts";
import type { AgentRuntime } from "./runtime.ts";
import { LogEvery, type Logger } from "../log/mod.ts";
import type { ActionConfig } from "./config.ts";

/** Where the queue is and how long a task may be held silently. */
export interface TaskQueueSettings {
  engine: NatsEngine;
  /** Agents sharing the queue; tasks come on `action.tasks.<group>`. */
  group: string;
  /** The relay's stream and subject prefix. */
  stream: string;
  prefix: string;
  /** Time a delivered task may go unacknowledged before it is given to another agent. */
  ackWaitMs: number;
  /** Tasks one agent holds at once (running and queued). */
  maxHeld: number;
}

/** What the queue needs from the agent besides the sink: when an instruction is finished. */
export interface QueueSink extends TaskSink {
  /** Resolves once instruction `id` is finished (at once when it already is). */
  finished(id: string): Promise<void>;
}

/**
 * Creates (or updates) the group's durable consumer on the relay's stream. The relay's own
 * stream is used, not a work-queue stream sourcing from it: a sourced copy keeps the relay's
 * `Nats-Expected-Last-Subject-Sequence` header, which the copy's stream then checks against
 * its own sequences and refuses.
 */
async function ensureQueue(s: TaskQueueSettings, log: Logger): Promise<string> {
  const bounds = (await s.engine.jsm.streams.info(s.stream)).config;
  log.info("tasks wait in the relay's stream until an agent acknowledges them", {
    stream: s.stream,
    max_per_topic: bounds.max_msgs_per_subject,
    max_age_ms: bounds.max_age / 1_000_000,
  });
  const durable = `tasks-${s.group.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const filter = topicSubject(s.prefix, tasksTopic(s.group));
  // Groups `a.b` and `a_b` name one consumer: adding it again with the other's subject would
  // silently move it, and the first group's agents would take the second group's tasks.
  const held = await s.engine.jsm.consumers.info(s.stream, durable).then(
    (info) => info.config.filter_subject,
    () => undefined, // none yet (or no answer: the add below reports the engine)
  );
  if (held !== undefined && held !== filter) {
    throw new ConfigError(
      "relay.queue_group",
      { kind: "default" },
      "a group whose queue no other group holds (a . in a group's name reads as _ in its " +
        "queue's name)",
      `group ${s.group}, whose queue ${durable} takes another group's tasks (${held})`,
    );
  }
  await s.engine.jsm.consumers.add(s.stream, {
    durable_name: durable,
    filter_subject: filter,
    ack_policy: "explicit",
    deliver_policy: "all",
    ack_wait: s.ackWaitMs * 1_000_000,
    max_ack_pending: s.maxHeld,
  });
  return durable;
}

/**
 * A pull lasts this long; the server sends heartbeats every half of it, so a server that keeps
 * the connection open but stopped answering (frozen, or a link that drops everything) is
 * noticed after {@linkcode MISSED_HEARTBEATS} of them.
 */
const PULL_EXPIRES_MS = 4_000;
/** Missed heartbeats after which the queue counts as interrupted and its consumer is asked again. */
const MISSED_HEARTBEATS = 3;

/** The queue reader; see the module doc. */
export class QueuedTaskSource {
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;
  #connected = false;
  #received = 0;
  #refused = 0;
  #lastError: string | undefined;
  readonly #held = new Set<Promise<void>>();
  /** The queue's interruptions, alike while the engine stays away: one line a minute, counted. */
  readonly #faults = new LogEvery();

  constructor(
    private readonly rt: AgentRuntime,
    private readonly sink: QueueSink,
    private readonly policy: TaskPublisherPolicy,
    private readonly s: TaskQueueSettings,
  ) {}

  /**
   * Creates the group's consumer (the relay's stream must exist) and starts taking tasks.
   * @throws {Error} when the engine refuses the stream or the consumer
   */
  async start(): Promise<void> {
    const durable = await ensureQueue(this.s, this.rt.log);
    this.#loop = this.#run(durable);
  }

  async #run(durable: string): Promise<void> {
    for (let failures = 0; !this.#closed;) {
      try {
        const consumer = await this.s.engine.js.consumers.get(this.s.stream, durable);
        const messages = await consumer.consume({
          max_messages: this.s.maxHeld,
          expires: PULL_EXPIRES_MS,
        });
        this.#messages = messages;
        // Stopped while the consumer was being made: stop() could not end this one.
        if (this.#closed) messages.stop();
        this.#connected = true;
        failures = 0;
        void this.#watch(messages);
        for await (const m of messages) this.#track(this.#handle(m));
      } catch (err) {
        this.#lastError = errorMessage(err);
        if (!this.#closed) this.#fault(this.#lastError);
      }
      this.#connected = false;
      if (!this.#closed) await sleep(backoffDelay(failures++, { baseMs: 100, maxMs: 5_000 }));
    }
  }

  /**
   * Ends a pull the engine stopped answering (its heartbeats missed while the connection stays
   * open): `/health` says so, and the loop asks for the consumer again, which succeeds once the
   * engine answers. Tasks held meanwhile go on and are acknowledged when finished.
   */
  async #watch(messages: ConsumerMessages): Promise<void> {
    for await (const st of messages.status()) {
      if (st.type === "heartbeats_missed" && st.count >= MISSED_HEARTBEATS) {
        this.#connected = false;
        this.#lastError = "the engine stopped answering";
        this.#fault(this.#lastError);
        messages.stop();
        return;
      }
    }
  }

  #fault(err: string): void {
    const count = this.#faults.due();
    if (count !== undefined) this.rt.log.warn("task queue interrupted", { err, count });
  }

  #track(p: Promise<void>): void {
    this.#held.add(p);
    void p.finally(() => this.#held.delete(p));
  }

  async #handle(m: JsMsg): Promise<void> {
    this.#received++;
    const e = streamRelayEvent(this.s.prefix, {
      subject: m.subject,
      headers: m.headers,
      body: m.data,
    });
    if (e === undefined) {
      this.rt.log.warn("task queue message not written by a relay; dropped", { seq: m.seq });
      m.term();
      return;
    }
    // Keep the task while it is recorded, queued and run.
    const working = setInterval(() => m.working(), delayOf(Math.max(500, this.s.ackWaitMs / 3)));
    try {
      const out = await takeTask(this.sink, tasksTopic(this.s.group), this.policy, e);
      if (out.kind === "refused") this.#refused++;
      if (out.kind === "queued") await this.sink.finished(out.id);
      m.ack();
    } catch (err) {
      this.rt.log.warn("task not handled; left for redelivery", { err: errorMessage(err) });
      m.nak();
    } finally {
      clearInterval(working);
    }
  }

  /** Health of the queue. */
  health(): ComponentHealth {
    return {
      ok: this.#connected && this.s.engine.connected,
      configured: true,
      topic: tasksTopic(this.s.group),
      queue: this.s.stream,
      received: this.#received,
      refused: this.#refused,
      held: this.#held.size,
      ...(this.#lastError ? { last_error: this.#lastError } : {}),
    };
  }

  /** Stops taking new tasks (those held go on, and are acknowledged when finished). */
  async stop(): Promise<void> {
    this.#closed = true;
    this.#messages?.stop();
    await this.#loop;
  }

  /**
   * Closes the connection once the agent's work ended: acknowledgements of finished tasks are
   * flushed; unfinished ones go back to the queue once their wait ends.
   */
  async close(): Promise<void> {
    await this.stop();
    await this.s.engine.close();
  }
}

/**
 * Connects to the engine of `relay.queue`, creates the group's consumer and starts taking
 * the group's tasks.
 * @throws {ConfigError} naming `relay.queue` and its URL (without credentials) when the engine
 * cannot be reached or refuses the queue
 */
export async function openTaskQueue(
  rt: AgentRuntime,
  config: ActionConfig,
  sink: QueueSink,
  policy: TaskPublisherPolicy,
): Promise<QueuedTaskSource> {
  const url = config.relay.queue ?? "";
  const group = config.relay.queue_group ?? rt.agentId;
  if (policy.acceptAnonymous) {
    rt.log.warn(
      "relay.accept_anonymous_tasks is on: anyone who can publish to the relay can give " +
        "this group orders (development only)",
      { topic: tasksTopic(group) },
    );
  }
  const nats = {
    ...config.nats,
    password: resolveSecretSetting("nats.password", config.nats.password),
    token: resolveSecretSetting("nats.token", config.nats.token),
  };
  const settings = natsSettings(url, nats, `iatp-action-${rt.agentId}`);
  let engine: NatsEngine | undefined;
  try {
    engine = await connectNats(settings, rt.log);
    const source = new QueuedTaskSource(rt, sink, policy, {
      engine,
      group,
      stream: config.relay.queue_stream,
      prefix: config.relay.queue_subjects,
      ackWaitMs: config.relay.queue_ack_wait,
      maxHeld: config.agent.max_concurrent_tasks + config.agent.max_queued_tasks,
    });
    await source.start();
    return source;
  } catch (err) {
    await engine?.close();
    if (err instanceof ConfigError) throw err; // a file a nats setting names
    // Refused credentials given by a nats setting: that setting is the mistake, not the URL.
    const refused = credentialsError(err, settings);
    if (refused) throw refused;
    if (err instanceof NatsUrlError) {
      throw new ConfigError(
        "relay.queue",
        { kind: "default" },
        NATS_URL_EXPECTED,
        `${displayUrl(url)} (${err.message})`,
        { cause: err },
      );
    }
    throw new ConfigError(
      "relay.queue",
      { kind: "default" },
      "a reachable NATS server with JetStream holding the relay's stream",
      errorMessage(err).startsWith(displayUrl(url))
        ? errorMessage(err)
        : `${displayUrl(url)} (${errorMessage(err)})`,
      { cause: err },
    );
  }
}
