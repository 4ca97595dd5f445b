/**
 * Relay-driven work for the action agent: a resumable subscription to `action.tasks.<agent_id>`
 * whose position is persisted under data/state after each task is recorded, so a restart
 * resumes where it left off (and replays, at worst, tasks whose ids are already known).
 * @module
 */
import type { RelayEvent } from "../relay/client.ts";
import { sleep } from "./backoff.ts";
import type { ComponentHealth } from "./health.ts";
import { type TaskSource, tasksTopic } from "./reporter.ts";
import type { AgentRuntime } from "./runtime.ts";
import { type Instruction, INSTRUCTION_ID, instructionSchema } from "./wire.ts";

/** State key of the last relay id handled. */
export const RELAY_POSITION_KEY = "relay.tasks.last_id";
/** How often a handler re-tries a full queue (the subscription waits meanwhile: backpressure). */
export const QUEUE_FULL_RETRY_MS = 100;

/** What the relay source hands tasks to. */
export interface TaskSink {
  accept(inst: Instruction, source: TaskSource): Promise<boolean>;
  reject(id: string | undefined, reason: string, source: TaskSource): Promise<void>;
  readonly stop: AbortController;
}

/** The subscription; see the module doc. */
export class RelayTaskSource {
  #sub: { lastId(): string | undefined; close(): void };
  #connected = false;
  #lastError?: string;
  #received = 0;

  constructor(private readonly rt: AgentRuntime, private readonly sink: TaskSink) {
    const since = rt.state.getValue(RELAY_POSITION_KEY) ?? "0";
    this.#sub = rt.relay!.subscribe([tasksTopic(rt.agentId)], (e) => this.#handle(e), {
      since,
      onStatus: (s, err) => {
        this.#connected = s === "connected";
        if (err) this.#lastError = err;
        rt.log.info("relay task subscription", { status: s, error: err });
      },
      onReset: (oldest) =>
        rt.log.warn("relay could not resume; tasks may have been missed", { oldest }),
    });
  }

  async #handle(e: RelayEvent): Promise<void> {
    this.#received++;
    const raw = (e.payload as { instruction?: unknown }).instruction ?? e.payload;
    const parsed = instructionSchema.safeParse(raw);
    if (!parsed.success) {
      const id = typeof (raw as { id?: unknown })?.id === "string"
        ? (raw as { id: string }).id
        : undefined;
      const reason = parsed.error.issues.map((i) =>
        `${i.path.join(".") || "instruction"}: ${i.message}`
      ).join("; ");
      await this.sink.reject(id && INSTRUCTION_ID.test(id) ? id : undefined, reason, "relay");
    } else {
      // A full queue holds the subscription (backpressure) instead of dropping the task.
      while (!(await this.sink.accept(parsed.data, "relay")) && !this.sink.stop.signal.aborted) {
        await sleep(QUEUE_FULL_RETRY_MS, this.sink.stop.signal);
      }
    }
    this.rt.state.setValue(RELAY_POSITION_KEY, e.id);
  }

  /** Health of the subscription. */
  health(): ComponentHealth {
    return {
      ok: this.#connected,
      configured: true,
      topic: tasksTopic(this.rt.agentId),
      received: this.#received,
      last_id: this.#sub.lastId() ?? null,
      ...(this.#lastError ? { last_error: this.#lastError } : {}),
    };
  }

  /** Ends the subscription. */
  close(): void {
    this.#sub.close();
  }
}
