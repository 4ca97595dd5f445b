/**
 * Runs Docker commands: validates parameters first (HttpError 400 naming the parameter), then runs
 * the operation under a deadline and shapes the result of the TryDirect status wire
 * (docs/protocols.md). Used by the compose-agent, and by the status agent only in legacy mode.
 * @module
 */
import { deadline, isTimeout } from "../../async/mod.ts";
import { HttpError } from "../../errors/mod.ts";
import type { Logger } from "../../log/mod.ts";
import {
  type AppPaths,
  ComposeFailed,
  deployApp,
  deployParams,
  prepareDeploy,
  removeApp,
  removeParams,
} from "./apps.ts";
import {
  type AgentCommand,
  appCodeOf,
  type CommandResult,
  type CommandStatus,
  type DockerEngine,
  DockerError,
  isDockerCommand,
  makeResult,
} from "../mod.ts";
import type { ComposeRunner } from "./compose.ts";
import { parseParams, stackerResult } from "../parse/mod.ts";
import * as ops from "./ops.ts";
import { DeployPolicy } from "./deploy_policy.ts";

/** Default deadline of one container command. */
const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;
/** Default deadline of deploy_app / remove_app (including the health gate). */
const DEFAULT_DEPLOY_TIMEOUT_MS = 300_000;

/** Options for {@linkcode DockerExecutor}. */
interface ExecutorOptions {
  engine: DockerEngine;
  compose: ComposeRunner;
  /** `compose_agent`, or `status_panel` in legacy mode. */
  executedBy: string;
  paths: AppPaths;
  commandTimeoutMs?: number;
  deployTimeoutMs?: number;
  maxLogBytes: number;
  maxComposeFileBytes: number;
  /** What a compose file may ask of the host (default: {@linkcode DEFAULT_DEPLOY_ALLOW}). */
  deployPolicy?: DeployPolicy;
  log: Logger;
  /** The deployment results name when the command did not carry one. */
  deploymentHash?: string;
}

/** A validated command ready to run. */
export type PreparedCommand = () => Promise<unknown>;

/** Validates and runs Docker commands. */
export class DockerExecutor {
  constructor(private readonly opts: ExecutorOptions) {}

  /** Validates `cmd` and returns its operation; throws HttpError(400) on bad input. */
  async prepare(cmd: AgentCommand): Promise<PreparedCommand> {
    const { engine, compose } = this.opts;
    const p = cmd.parameters;
    const type = cmd.type;
    if (!isDockerCommand(type)) {
      throw new HttpError(400, `unknown command type ${type}`, { field: "type" });
    }
    switch (type) {
      case "health": {
        const v = parseParams(ops.healthParams, p);
        return () => ops.health(engine, v);
      }
      case "logs": {
        const v = parseParams(ops.logsParams, p);
        return () => ops.logs(engine, v, this.opts.maxLogBytes);
      }
      case "list_containers": {
        const v = parseParams(ops.listParams, p);
        return () => ops.listContainers(engine, v);
      }
      case "inspect": {
        const v = parseParams(ops.nameOnly, p);
        return () => ops.inspect(engine, v);
      }
      case "restart":
      case "stop": {
        const v = parseParams(ops.stopParams, p);
        return () => ops.lifecycle(engine, type, v);
      }
      case "start":
      case "pause":
      case "unpause": {
        const v = parseParams(ops.nameOnly, p);
        return () => ops.lifecycle(engine, type, v);
      }
      case "deploy_app": {
        const v = parseParams(deployParams(this.opts.maxComposeFileBytes), p);
        const source = await prepareDeploy(this.opts.paths, v, {
          policy: this.opts.deployPolicy ?? new DeployPolicy(),
          maxBytes: this.opts.maxComposeFileBytes,
        });
        return () => deployApp(compose, source, v, this.#deployTimeout());
      }
      case "remove_app": {
        const v = parseParams(removeParams, p);
        return () =>
          removeApp(compose, this.opts.paths, v, this.#deployTimeout(), {
            policy: this.opts.deployPolicy ?? new DeployPolicy(),
            maxBytes: this.opts.maxComposeFileBytes,
          });
      }
    }
  }

  #deployTimeout(): number {
    return this.opts.deployTimeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS;
  }

  /** Runs a prepared command under its deadline; never throws. */
  async run(cmd: AgentCommand, op: PreparedCommand): Promise<CommandResult> {
    const isApp = cmd.type === "deploy_app" || cmd.type === "remove_app";
    // Apps carry their own deadline inside compose; the outer one is a backstop.
    const limitMs = isApp
      ? this.#deployTimeout() + 30_000
      : this.opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    try {
      return this.#result(cmd, "success", await deadline(op(), limitMs), null);
    } catch (err) {
      return this.#failure(cmd, err);
    }
  }

  /** Validates and runs; bad input becomes a `failed` result (for queue consumers). */
  async execute(cmd: AgentCommand): Promise<CommandResult> {
    try {
      return await this.run(cmd, await this.prepare(cmd));
    } catch (err) {
      return this.#failure(cmd, err);
    }
  }

  /** A result in both dialects: Stacker's typed `result` for health/logs/restart. */
  #result(
    cmd: AgentCommand,
    status: CommandStatus,
    value: unknown,
    error: string | null,
  ): CommandResult {
    const hash = cmd.deployment_hash ?? this.opts.deploymentHash ?? "";
    const typed = stackerResult({
      type: cmd.type,
      deploymentHash: hash,
      appCode: appCodeOf(cmd),
      value,
      error,
    });
    return makeResult(
      { ...cmd, deployment_hash: hash },
      this.opts.executedBy,
      status,
      typed,
      error,
    );
  }

  #failure(cmd: AgentCommand, err: unknown): CommandResult {
    if (isTimeout(err)) {
      return this.#result(cmd, "timeout", null, `${cmd.type} exceeded its deadline`);
    }
    if (err instanceof ComposeFailed) {
      return this.#result(cmd, err.timedOut ? "timeout" : "failed", err.detail, err.message);
    }
    if (err instanceof DockerError || err instanceof HttpError) {
      return this.#result(cmd, "failed", null, err.message);
    }
    this.opts.log.error("command crashed", { err, type: cmd.type, command_id: cmd.command_id });
    return this.#result(cmd, "failed", null, "internal error");
  }
}
