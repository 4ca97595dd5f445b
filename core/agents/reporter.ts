/**
 * Delivers finished instructions' results at least once: to the orchestrator (`POST .../result`)
 * for polled instructions, to the relay (`action.results`) for relay tasks, and a status copy to
 * `action.results` for every result when a relay is configured. A result stays "unreported" in
 * the state database until delivery succeeds, and a sweep retries it.
 * @module
 */
import type { AgentRuntime } from "./runtime.ts";
import type { InstructionRow } from "./state.ts";
import type { Instruction, ResultBody } from "./wire.ts";
import { errorMessage } from "../errors/mod.ts";
import { sha256Hex } from "../crypto/mod.ts";
import type { ComponentHealth } from "./health.ts";

/** Relay topic for results. */
const RESULTS_TOPIC = "action.results";

/** The relay topic an action agent takes tasks from. */
export function tasksTopic(agentId: string): string {
  return `action.tasks.${agentId}`;
}

/** Where an instruction came from. */
export type TaskSource = "orchestrator" | "relay";

/** The decision-free status event published to `action.results`. */
function resultEvent(
  agentId: string,
  inst: Pick<Instruction, "id" | "plugin_id" | "instruction_type" | "correlation_id">,
  source: string,
  body: ResultBody,
): Record<string, unknown> {
  const details = body.error_details ?? {};
  return {
    agent_id: agentId,
    instruction_id: inst.id,
    correlation_id: inst.correlation_id ?? null,
    plugin_id: inst.plugin_id,
    instruction_type: inst.instruction_type,
    source,
    status: body.status,
    error_type: body.status === "failed" ? details.error_type ?? "error" : null,
    error_message: body.error_message ?? null,
    duration_ms: (body.result?.duration_ms ?? details.duration_ms ?? null) as number | null,
    result: body.status === "completed" ? body.result?.output ?? null : null,
    ts: new Date().toISOString(),
  };
}

/** Result delivery with a persistent retry sweep. */
export class ResultReporter {
  /** Deliveries under way, by instruction id. */
  #inFlight = new Map<string, Promise<boolean>>();
  /** Why the latest delivery failed; cleared by the next that works. */
  #failure: string | undefined;
  #delivered = 0;
  #failed = 0;

  /** @param onNext receives an instruction the orchestrator piggy-backed on a result answer */
  constructor(
    private readonly rt: AgentRuntime,
    private readonly onNext: (raw: Instruction) => unknown,
  ) {}

  /**
   * Takes a piggy-backed instruction without holding up the delivery that brought it. One the
   * agent cannot record (a full or read-only disk) is logged, not run: its failure was an
   * unhandled rejection that stopped the agent.
   */
  #takeNext(inst: Instruction): void {
    Promise.resolve().then(() => this.onNext(inst)).catch((err) =>
      this.rt.log.error("piggy-backed instruction not recorded; it is not run", {
        instruction_id: inst.id,
        error: errorMessage(err),
      })
    );
  }

  /** Delivers one finished instruction's result; true when it is now marked reported. */
  deliver(row: InstructionRow): Promise<boolean> {
    if (!row.result || this.#inFlight.has(row.id)) return Promise.resolve(false);
    const delivery = this.#deliver(row).finally(() => this.#inFlight.delete(row.id));
    this.#inFlight.set(row.id, delivery);
    return delivery;
  }

  /**
   * Resolves once every delivery under way has ended. A stop waits for them before it closes
   * the relay client: one cut off after the relay took the event but before it was marked
   * reported would be reported again at the next start.
   */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight.values()]);
  }

  async #deliver(row: InstructionRow): Promise<boolean> {
    try {
      const body = row.result as unknown as ResultBody;
      const inst = row.instruction as unknown as Instruction;
      const event = resultEvent(this.rt.agentId, inst, row.source, body);
      if (row.source === "orchestrator" && this.rt.orchestrator) {
        const ack = await this.rt.orchestrator.reportResult(row.id, body);
        this.rt.relay?.publish(RESULTS_TOPIC, event);
        if (ack.instruction) this.#takeNext(ack.instruction);
        if (ack.rejected) {
          this.rt.log.warn("next_instruction rejected", { reason: ack.rejected.reason });
        }
      } else if (this.rt.relay) {
        await this.rt.relay.publishNow(RESULTS_TOPIC, event, {
          idempotencyKey: resultRelayKey(this.rt.agentId, row.id),
        });
      } else {
        this.rt.log.warn("no way to report a result", {
          instruction_id: row.id,
          source: row.source,
        });
        return false;
      }
      this.rt.state.markReported(row.id);
      this.#delivered++;
      this.#failure = undefined;
      await this.rt.audit(
        "result.reported",
        { instruction_id: row.id, status: body.status },
        row.id,
      );
      return true;
    } catch (err) {
      this.#failed++;
      this.#failure = errorMessage(err);
      this.rt.log.warn("result delivery failed; will retry", {
        instruction_id: row.id,
        error: errorMessage(err),
      });
      return false;
    }
  }

  /**
   * The `results` component of `/health`: degraded while the latest delivery failed (an
   * orchestrator or relay out of reach, a relay credential without `publish:action.results`),
   * until one works. Undelivered results are kept and retried by the sweep.
   */
  health(): ComponentHealth {
    const reason = this.#failure === undefined
      ? undefined
      : `the latest result was not delivered (kept and retried): ${this.#failure}`;
    return {
      ok: reason === undefined,
      delivered: this.#delivered,
      failed: this.#failed,
      ...(reason === undefined ? {} : { reason }),
    };
  }

  /** Retries every unreported result once (oldest first). */
  async sweep(): Promise<void> {
    for (const row of this.rt.state.unreported()) await this.deliver(row);
  }
}

/**
 * The relay's `Idempotency-Key` of an instruction's result (visible ASCII, at most 128
 * characters): the same for every report of it, so one reported again after a restart within the
 * relay's `duplicate_window` is not stored twice.
 */
export function resultRelayKey(agentId: string, instructionId: string): string {
  return `action-result:sha256:${sha256Hex(`${agentId}\n${instructionId}`)}`;
}
