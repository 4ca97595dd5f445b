/**
 * The compose-agent's signed HTTP API: execute a command now, or use the local queue
 * (enqueue / long-poll wait / report). Every route sits behind {@linkcode signedAuth}; each
 * checks its own scope.
 * @module
 */
import { loadAuth } from "./auth.ts";
import {
  type AgentCommand,
  type CommandCounters,
  type CommandResult,
  isDockerCommand,
  makeResult,
  scopeFor,
} from "../docker/wire/mod.ts";
import type { Watchdog } from "../docker/mod.ts";
import type { DockerExecutor } from "../docker/executor/mod.ts";
import { HttpError, UnavailableError } from "../errors/mod.ts";
import type { App } from "../http/mod.ts";
import type { CommandQueue } from "./queue.ts";
import { lateImport } from "../config/mod.ts";

/** The executor module, loaded with the routes. */
type Executor = typeof import("../docker/executor/mod.ts");

/** What the routes need. */
export interface RouteDeps {
  executor: DockerExecutor;
  queue: CommandQueue;
  watchdog?: Watchdog;
  deploymentHash: string;
  maxWaitMs: number;
  onResult: (cmd: AgentCommand, r: CommandResult) => void;
  /** True while draining: long polls end at once. */
  draining: () => boolean;
  /** Reported executions by control plane (`/api/v1/diagnostics/commands`). */
  counters: CommandCounters;
}

/** The command as upstream's agent reads it from `wait`, with iatp's item/meta alongside. */
function waitBody(item: AgentCommand): Record<string, unknown> {
  return {
    id: item.id ?? item.command_id,
    command_id: item.command_id,
    name: item.type,
    params: item.parameters,
    ...(item.deployment_hash !== undefined ? { deployment_hash: item.deployment_hash } : {}),
    ...(item.app_code !== undefined ? { app_code: item.app_code } : {}),
    item,
    meta: { next_poll_secs: 0 },
  };
}

/** True for an upstream-dialect body (`name` instead of `type`). */
function isUpstreamBody(body: unknown): boolean {
  const b = body as Record<string, unknown> | null;
  return typeof b === "object" && b !== null && b.type === undefined && "name" in b;
}

async function jsonBody(c: { req: { json(): Promise<unknown> } }): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new HttpError(400, "invalid JSON body");
  }
}

/**
 * Keeps the watchdog away from a container an operator is stopping or restarting: suppressed
 * while the command runs (so a restart's brief "exited" is not a failure), kept suppressed
 * after a successful stop, released after start/restart or a failed stop.
 */
async function withIntent(
  watchdog: Watchdog | undefined,
  cmd: AgentCommand,
  run: () => Promise<CommandResult>,
): Promise<CommandResult> {
  const name = cmd.parameters.name;
  const lifecycle = ["stop", "restart", "start"].includes(cmd.type);
  if (!watchdog || !lifecycle || typeof name !== "string") return await run();
  if (cmd.type !== "start") watchdog.markIntentionalStop(name);
  const r = await run();
  if (cmd.type !== "stop" || r.status !== "success") watchdog.clearIntentionalStop(name);
  return r;
}

/**
 * Registers the `/api/v1/commands/*` routes, loading the command parsers (zod) with them: a
 * service registers its routes with the first request its router serves.
 */
export async function registerCommandRoutes(app: App, deps: RouteDeps): Promise<void> {
  const { parseCommand, parseReport } = await lateImport<Executor>(
    "../docker/executor/mod.ts",
    import.meta.url,
  );
  // The caller and scope checks of core/auth's verifier, which the routes' guard runs first.
  const { callerOf, requireScope } = await loadAuth();
  app.post("/api/v1/commands/execute", async (c) => {
    const body = await jsonBody(c);
    const cmd = parseCommand(body);
    // Upstream grants every command reached through execute with commands:execute; iatp's own
    // signing keeps the per-command scope.
    const upstreamScope = callerOf(c).mode !== "iatp" && !cmd.type.includes(":");
    requireScope(c, upstreamScope ? [scopeFor(cmd.type), "commands:execute"] : scopeFor(cmd.type));
    if (!isDockerCommand(cmd.type) && isUpstreamBody(body)) {
      // Upstream runs shell lines and pipe commands; iatp runs neither: a failed result.
      const why = cmd.shell !== undefined
        ? "shell commands are not run by iatp"
        : `unsupported command ${cmd.type}`;
      const result = makeResult(cmd, "compose_agent", "failed", null, why);
      deps.onResult(cmd, result);
      return c.json(result);
    }
    const op = await deps.executor.prepare(cmd);
    const result = await withIntent(deps.watchdog, cmd, () => deps.executor.run(cmd, op));
    deps.onResult(cmd, result);
    return c.json(result);
  });

  app.post("/api/v1/commands/enqueue", async (c) => {
    requireScope(c, "commands:enqueue");
    const cmd = parseCommand(await jsonBody(c));
    const item = { ...cmd, deployment_hash: cmd.deployment_hash ?? deps.deploymentHash };
    // The queue lives in memory: a command acknowledged once the stop began would go with the
    // process. One whose request was in flight then is refused, to be sent again after the restart.
    if (deps.draining()) throw new UnavailableError("the compose agent is stopping", 1);
    if (!deps.queue.push(item)) {
      throw new HttpError(503, `command queue full (${deps.queue.maxItems})`, {
        limit: deps.queue.maxItems,
      });
    }
    return c.json({ queued: true, command_id: cmd.command_id, status: "queued" }, 202);
  });

  app.get("/api/v1/commands/wait/:hash", async (c) => {
    const caller = requireScope(c, "commands:wait");
    // Upstream ignores the hash in the path; iatp refuses a foreign one.
    if (caller.mode === "iatp" && c.req.param("hash") !== deps.deploymentHash) {
      throw new HttpError(404, "unknown deployment hash");
    }
    const asked = Number(c.req.query("timeout") ?? 30);
    if (!Number.isFinite(asked) || asked < 0) {
      throw new HttpError(400, "timeout must be a number of seconds >= 0", { field: "timeout" });
    }
    const timeoutMs = deps.draining() ? 0 : Math.min(asked * 1000, deps.maxWaitMs);
    const item = await deps.queue.wait(timeoutMs, c.req.raw.signal);
    if (!item) return c.body(null, 204);
    return c.json(waitBody(item));
  });

  app.post("/api/v1/commands/report", async (c) => {
    requireScope(c, "commands:report");
    const report = parseReport(await jsonBody(c));
    deps.queue.report(report);
    deps.counters.record(report.executed_by);
    return c.json({ accepted: true });
  });

  // Counters only (no command content): readable without a signature, as upstream serves them.
  app.get(DIAGNOSTICS_PATH, (c) => c.json(deps.counters.snapshot()));
}

/** The unsigned diagnostics route. */
export const DIAGNOSTICS_PATH = "/api/v1/diagnostics/commands";
