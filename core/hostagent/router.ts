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

  /** Runs one command; never throws. */
  async execute(cmd: AgentCommand): Promise<CommandResult> {
    const r = await this.#dispatch(cmd);
    this.#counters.record(r.executed_by);
    return r;
  }

  #dispatch(cmd: AgentCommand): Promise<CommandResult> {
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
    return this.#forward(t, cmd);
  }

  async #forward(
    t: Extract<DockerTarget, { kind: "compose_agent" }>,
    cmd: AgentCommand,
  ): Promise<CommandResult> {
    const url = `${t.url.replace(/\/+$/, "")}/api/v1/commands/execute`;
    try {
      const { signedFetch } = await loadAuth();
      const res = await signedFetch(url, t.identity, {
        json: { command_id: cmd.command_id, type: cmd.type, parameters: cmd.parameters },
        signal: timeoutSignal(t.timeoutMs),
      });
      const body = parseAnswer(await readBody(res, { limit: MAX_FORWARDED_RESULT_BYTES }));
      if (res.ok && body.command_id === cmd.command_id && body.status) {
        return { ...body, executed_by: "compose_agent" } as CommandResult;
      }
      // The compose-agent refused it (bad parameters, missing scope, ...): it did not run.
      const why = body.error ?? `HTTP ${res.status}`;
      return makeResult(cmd, "compose_agent", "failed", null, `compose-agent refused: ${why}`);
    } catch (err) {
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

/** What the compose-agent answered, as far as it is a JSON object; `{}` otherwise. */
function parseAnswer(bytes: Uint8Array): Partial<CommandResult> & { error?: string } {
  try {
    const v: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}
