/**
 * Decides who runs a dashboard command: Docker commands go to the compose-agent (signed), or to
 * the local executor in legacy mode; `server_resources` is answered here from /proc. Keeps the
 * control-plane counters `/health` reports.
 * @module
 */
import { timeoutSignal } from "../async/mod.ts";
import type { SignerIdentity } from "../auth/mod.ts";
import { loadAuth } from "./auth.ts";
import {
  type AgentCommand,
  CommandCounters,
  type CommandResult,
  type ControlPlaneMetrics,
  isDockerCommand,
  makeResult,
} from "../docker/wire/mod.ts";
import type { DockerExecutor } from "../docker/executor/mod.ts";
import type { HostSnapshot } from "../host/mod.ts";
import type { Logger } from "../log/mod.ts";
import { readBody } from "../http/mod.ts";

/** Largest compose-agent answer read (a command result with its logs). */
const MAX_FORWARDED_RESULT_BYTES = 16 * 1024 * 1024;
/** Longest reason taken from a compose-agent refusal into a report (longer ones are cut). */
const MAX_REFUSAL_REASON_CHARS = 4096;
/** The statuses a command result may carry (core/docker/wire's CommandStatus). */
const RESULT_STATUSES: ReadonlySet<unknown> = new Set(["success", "failed", "timeout"]);

/** Where Docker commands go. */
export type DockerTarget =
  | { kind: "compose_agent"; url: string; identity: SignerIdentity; timeoutMs: number }
  | { kind: "legacy"; executor: DockerExecutor };

export type { ControlPlaneMetrics };

/** Routes commands and counts who executed them. */
export class CommandRouter {
  #counters = new CommandCounters();

  constructor(
    private readonly target: DockerTarget,
    private readonly snapshot: () => HostSnapshot,
    private readonly log: Logger,
  ) {}

  /** Counters for `/health`. */
  metrics(): ControlPlaneMetrics {
    return this.#counters.snapshot();
  }

  /**
   * Runs one command; never throws. `stop` (the agent stopping) ends the wait on a forwarded
   * command: it is then reported failed, as one that may have run.
   */
  async execute(cmd: AgentCommand, stop?: AbortSignal): Promise<CommandResult> {
    const r = await this.#dispatch(cmd, stop);
    this.#counters.record(r.executed_by);
    return r;
  }

  #dispatch(cmd: AgentCommand, stop?: AbortSignal): Promise<CommandResult> {
    if (cmd.type === "server_resources") {
      return Promise.resolve(makeResult(cmd, "status_panel", "success", this.snapshot(), null));
    }
    if (!isDockerCommand(cmd.type)) {
      return Promise.resolve(
        makeResult(cmd, "status_panel", "failed", null, `unsupported command type ${cmd.type}`),
      );
    }
    const t = this.target;
    if (t.kind === "legacy") return t.executor.execute(cmd);
    return this.#forward(t, cmd, stop);
  }

  async #forward(
    t: Extract<DockerTarget, { kind: "compose_agent" }>,
    cmd: AgentCommand,
    stop?: AbortSignal,
  ): Promise<CommandResult> {
    const url = `${t.url.replace(/\/+$/, "")}/api/v1/commands/execute`;
    try {
      const { signedFetch } = await loadAuth();
      const res = await signedFetch(url, t.identity, {
        json: { command_id: cmd.command_id, type: cmd.type, parameters: cmd.parameters },
        signal: stop
          ? AbortSignal.any([timeoutSignal(t.timeoutMs), stop])
          : timeoutSignal(t.timeoutMs),
      });
      const body = parseAnswer(await readBody(res, { limit: MAX_FORWARDED_RESULT_BYTES }));
      if (res.ok && body.command_id === cmd.command_id && body.status) {
        if (isResult(body)) return { ...body, executed_by: "compose_agent" } as CommandResult;
        // Its values are not passed on: the dashboard gets the wire's statuses only.
        this.log.warn("compose-agent answered a result not in the command wire", {
          command_id: cmd.command_id,
        });
        return makeResult(cmd, "compose_agent", "failed", null, NOT_A_RESULT);
      }
      // The compose-agent refused it (bad parameters, missing scope, ...): it did not run.
      const why = refusalReason(body.error) ?? `HTTP ${res.status}`;
      return makeResult(cmd, "compose_agent", "failed", null, `compose-agent refused: ${why}`);
    } catch (err) {
      if (stop?.aborted) {
        this.log.warn("compose-agent call ended by the stop", { command_id: cmd.command_id });
        return makeResult(cmd, "compose_agent", "failed", null, STOPPED_WAITING);
      }
      const timeout = err instanceof DOMException && err.name === "TimeoutError";
      this.log.warn("compose-agent call failed", { err, command_id: cmd.command_id });
      return makeResult(
        cmd,
        "compose_agent",
        timeout ? "timeout" : "failed",
        null,
        timeout ? "compose-agent did not answer in time" : "compose-agent unreachable",
      );
    }
  }
}

/** The error of a forwarded command whose wait the agent's stop ended. */
export const STOPPED_WAITING =
  "the status agent stopped before the compose-agent answered: the command may have run; check before sending it again";

/** The error of a forwarded command whose answer is not a command result. */
const NOT_A_RESULT =
  "compose-agent answered a result not in the command wire (status success, failed or timeout, error text or null)";

/** True when a compose-agent answer has the fields a report needs, with their wire types. */
function isResult(body: Partial<CommandResult> & { error?: unknown }): boolean {
  return RESULT_STATUSES.has(body.status) &&
    (body.error === null || body.error === undefined || typeof body.error === "string") &&
    (body.completed_at === undefined || typeof body.completed_at === "string");
}

/** A refusal's reason when it is text, cut to {@linkcode MAX_REFUSAL_REASON_CHARS}. */
function refusalReason(error: unknown): string | undefined {
  if (typeof error !== "string" || error === "") return undefined;
  return error.length > MAX_REFUSAL_REASON_CHARS
    ? `${error.slice(0, MAX_REFUSAL_REASON_CHARS)}... (truncated)`
    : error;
}

/** What the compose-agent answered, as far as it is a JSON object; `{}` otherwise. */
function parseAnswer(bytes: Uint8Array): Partial<CommandResult> & { error?: unknown } {
  try {
    const v: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}
