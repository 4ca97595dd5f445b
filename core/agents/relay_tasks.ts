/**
 * Relay-driven work for the action agent: a resumable subscription to `action.tasks.<agent_id>`
 * whose position is persisted under data/state after each task is recorded, so a restart
 * resumes where it left off (and replays, at worst, tasks whose ids are already known). A task
 * the state store cannot record (a full or read-only disk) holds the subscription there, which
 * resumes from the last recorded position a little later, so the task is not skipped.
 *
 * A task is an order, so it is obeyed only from who may give it: the relay names the publisher
 * it authenticated (and whose `publish:` scope for this topic it checked), and the agent
 * accepts the task only when there is one and, if `relay.task_publishers` is set, it is listed.
 * Anonymous tasks are refused unless `relay.accept_anonymous_tasks` (development only). A
 * refused task is reported as a failed instruction, never dropped in silence.
 * @module
 */
import type { RelayEvent } from "../relay/client/mod.ts";
import { after, sleep, type Timer } from "../async/mod.ts";
import type { ComponentHealth } from "./health.ts";
import { type TaskSource, tasksTopic } from "./reporter.ts";
import type { AgentRuntime } from "./runtime.ts";
import { type Instruction, INSTRUCTION_ID, wireSchemas } from "./wire.ts";

/** State key of the last relay id handled. */
const RELAY_POSITION_KEY = "relay.tasks.last_id";
/** How often a handler re-tries a full queue (the subscription waits meanwhile: backpressure). */
const QUEUE_FULL_RETRY_MS = 100;

/** Who may give relay tasks. */
export interface TaskPublisherPolicy {
  /** Publishers whose tasks are obeyed; empty: any authenticated publisher. */
  publishers: readonly string[];
  /** Obey tasks with no authenticated publisher (development only). */
  acceptAnonymous: boolean;
}

/** Why a task was refused: machine-readable code and a sentence. */
export interface TaskRefusal {
  code: "anonymous" | "publisher_not_allowed" | "wrong_topic";
  reason: string;
}

/**
 * The authorization decision for one relay event on `topic`; undefined when it may be obeyed.
 *
 * @example
 * ```ts
 * authorizeTask({ topic: "action.tasks.a1" }, "action.tasks.a1",
 *   { publishers: [], acceptAnonymous: false }); // { code: "anonymous", ... }
 * ```
 */
export function authorizeTask(
  e: Pick<RelayEvent, "topic" | "publisher">,
  topic: string,
  policy: TaskPublisherPolicy,
): TaskRefusal | undefined {
  if (e.topic !== topic) {
    return { code: "wrong_topic", reason: `task came on ${e.topic}, not ${topic}` };
  }
  const publisher = typeof e.publisher === "string" && e.publisher !== "" ? e.publisher : undefined;
  if (publisher === undefined) {
    if (policy.acceptAnonymous) return undefined;
    return {
      code: "anonymous",
      reason: "anonymous task: the relay authenticated no publisher (run the relay with " +
        "credentials, or set relay.accept_anonymous_tasks for development)",
    };
  }
  if (policy.publishers.length > 0 && !policy.publishers.includes(publisher)) {
    return {
      code: "publisher_not_allowed",
      reason: `publisher ${publisher} is not in relay.task_publishers`,
    };
  }
  return undefined;
}

/** A task refused before it was queued. */
export interface RefusedTask extends TaskRefusal {
  /** The relay event id (keys the refusal, so a replayed event is reported once). */
  eventId: string;
  publisher?: string;
  /** What the task said about itself, when readable (for the report). */
  instruction: { id?: string; plugin_id?: string; instruction_type?: string };
}

/** What the relay source hands tasks to. */
export interface TaskSink {
  accept(inst: Instruction, source: TaskSource, publisher?: string): Promise<boolean>;
  reject(id: string | undefined, reason: string, source: TaskSource): Promise<void>;
  refuse(task: RefusedTask): Promise<void>;
  /**
   * True when the event `eventId` was refused before: a refusal stands whatever the policy says
   * now, so a task replayed after a stop (its position not yet recorded) is never run.
   */
  refusedBefore(eventId: string): Promise<boolean>;
  readonly stop: AbortController;
}

function field(raw: unknown, key: string, pattern?: RegExp): string | undefined {
  const v = typeof raw === "object" && raw !== null
    ? (raw as Record<string, unknown>)[key]
    : undefined;
  return typeof v === "string" && v.length <= 256 && (!pattern || pattern.test(v)) ? v : undefined;
}

/** One task event as any task source reads it. */
export type TaskEvent = Pick<RelayEvent, "topic" | "publisher" | "event_id"> & {
  payload: unknown;
};

/** What became of a task event; `id` is the instruction id when the task was queued. */
export type TaskOutcome = { kind: "queued"; id: string } | { kind: "refused" | "invalid" };

/**
 * Authorizes one task event for `topic`, validates it and queues it (holding while the queue
 * is full); a refused or invalid task is reported, never dropped in silence.
 */
export async function takeTask(
  sink: TaskSink,
  topic: string,
  policy: TaskPublisherPolicy,
  e: TaskEvent,
): Promise<TaskOutcome> {
  if (await sink.refusedBefore(e.event_id)) return { kind: "refused" };
  const raw = (e.payload as { instruction?: unknown } | undefined)?.instruction ?? e.payload;
  const refusal = authorizeTask(e, topic, policy);
  if (refusal) {
    await sink.refuse({
      ...refusal,
      eventId: e.event_id,
      publisher: e.publisher,
      instruction: {
        id: field(raw, "id", INSTRUCTION_ID),
        plugin_id: field(raw, "plugin_id"),
        instruction_type: field(raw, "instruction_type"),
      },
    });
    return { kind: "refused" };
  }
  const { instructionSchema } = await wireSchemas();
  const parsed = instructionSchema.safeParse(raw);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) =>
      `${i.path.join(".") || "instruction"}: ${i.message}`
    ).join("; ");
    await sink.reject(field(raw, "id", INSTRUCTION_ID), reason, "relay");
    return { kind: "invalid" };
  }
  // A full queue holds the source (backpressure) instead of dropping the task.
  while (!(await sink.accept(parsed.data, "relay", e.publisher)) && !sink.stop.signal.aborted) {
    await sleep(QUEUE_FULL_RETRY_MS, sink.stop.signal);
  }
  return { kind: "queued", id: parsed.data.id };
}

/** How long the subscription waits to resume after the state store failed a write. */
const STORE_RETRY_MS = 2_000;

/** True for a failure of the state store (node:sqlite), rather than of the task. */
function isStoreFailure(err: unknown): boolean {
  return typeof err === "object" && err !== null &&
    (err as { code?: unknown }).code === "ERR_SQLITE_ERROR";
}

/** The subscription; see the module doc. */
export class RelayTaskSource {
  #sub: { lastId(): string | undefined; close(): void } | undefined;
  /** The subscription whose events count; one stopped by a failed write ignores any left. */
  #generation = 0;
  #retry: Timer | undefined;
  #closed = false;
  #connected = false;
  #lastError?: string;
  /** Connections in a row that failed, while disconnected. */
  #failures = 0;
  #received = 0;
  #refused = 0;

  constructor(
    private readonly rt: AgentRuntime,
    private readonly sink: TaskSink,
    private readonly policy: TaskPublisherPolicy,
  ) {
    this.#subscribe();
  }

  #subscribe(): void {
    const generation = ++this.#generation;
    const rt = this.rt;
    this.#sub = rt.relay!.subscribe(
      [tasksTopic(rt.agentId)],
      (e) => generation === this.#generation ? this.#handle(e) : undefined,
      {
        since: rt.state.getValue(RELAY_POSITION_KEY) ?? "0",
        onStatus: (s, err, failures) => {
          const news = this.#connected !== (s === "connected") || (err && err !== this.#lastError);
          this.#connected = s === "connected";
          this.#failures = s === "disconnected" ? failures ?? 1 : 0;
          if (err) this.#lastError = err;
          // Every retry updates /health; the log says when the state or its reason changes.
          if (news) rt.log.info("relay task subscription", { status: s, error: err, failures });
        },
        onReset: (oldest) =>
          rt.log.warn("relay could not resume; tasks may have been missed", { oldest }),
      },
    );
  }

  async #handle(e: RelayEvent): Promise<void> {
    this.#received++;
    try {
      await this.rt.state.open(); // a first run's first task creates the database
      const out = await takeTask(this.sink, tasksTopic(this.rt.agentId), this.policy, e);
      if (out.kind === "refused") this.#refused++;
      this.rt.state.setValue(RELAY_POSITION_KEY, e.id);
    } catch (err) {
      if (!isStoreFailure(err)) throw err;
      this.#hold(e, err);
    }
  }

  /**
   * Stops at a task the state store could not record (a full or read-only disk, a locked file)
   * and resubscribes from the last recorded position later: the task is taken again, not lost.
   */
  #hold(e: RelayEvent, err: unknown): void {
    this.#lastError = String(err);
    this.rt.log.warn("task not recorded; holding the relay tasks here and retrying", {
      id: e.id,
      err: String(err),
    });
    this.#generation++;
    this.#sub?.close();
    this.#retry?.cancel();
    // On core/async's timers: the global setTimeout would load Deno's Node layer.
    this.#retry = after(STORE_RETRY_MS, () => {
      if (this.#closed) return;
      try {
        this.#subscribe();
      } catch (again) {
        this.#hold(e, again);
      }
    });
  }

  /** Health of the subscription. */
  health(): ComponentHealth {
    return {
      ok: this.#connected,
      configured: true,
      topic: tasksTopic(this.rt.agentId),
      received: this.#received,
      refused: this.#refused,
      last_id: this.#sub?.lastId() ?? null,
      ...(this.#lastError ? { last_error: this.#lastError } : {}),
      ...(this.#failures > 0 ? { failures: this.#failures } : {}),
    };
  }

  /** Ends the subscription. */
  close(): void {
    this.#closed = true;
    this.#retry?.cancel();
    this.#sub?.close();
  }
}
