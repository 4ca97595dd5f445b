/**
 * The compose-agent's signed HTTP API: execute a command now, or use the local queue
 * (enqueue / long-poll wait / report). Every route sits behind {@linkcode signedAuth}; each
 * checks its own scope.
 * @module
 */
import { z } from "zod";
import { requireScope } from "../../core/auth/mod.ts";
import {
  type AgentCommand,
  type CommandResult,
  type DockerExecutor,
  parseCommand,
  scopeFor,
  type Watchdog,
} from "../../core/docker/mod.ts";
import { HttpError } from "../../core/errors/mod.ts";
import type { App } from "../../core/http/mod.ts";
import type { CommandQueue } from "./queue.ts";

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
}

const reportSchema = z.object({
  command_id: z.string().regex(/^[A-Za-z0-9._:-]+$/).max(128),
  deployment_hash: z.string().max(256),
  status: z.enum(["success", "failed", "timeout"]),
  completed_at: z.string().max(64),
  executed_by: z.enum(["status_panel", "compose_agent"]).optional(),
  result: z.unknown().optional(),
  error: z.string().max(65_536).nullish(),
});

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

/** Registers the `/api/v1/commands/*` routes. */
export function registerCommandRoutes(app: App, deps: RouteDeps): void {
  app.post("/api/v1/commands/execute", async (c) => {
    const cmd = parseCommand(await jsonBody(c));
    requireScope(c, scopeFor(cmd.type));
    const op = await deps.executor.prepare(cmd);
    const result = await withIntent(deps.watchdog, cmd, () => deps.executor.run(cmd, op));
    deps.onResult(cmd, result);
    return c.json(result);
  });

  app.post("/api/v1/commands/enqueue", async (c) => {
    requireScope(c, "commands:enqueue");
    const cmd = parseCommand(await jsonBody(c));
    const item = { ...cmd, deployment_hash: cmd.deployment_hash ?? deps.deploymentHash };
    if (!deps.queue.push(item)) {
      throw new HttpError(503, `command queue full (${deps.queue.maxItems})`, {
        limit: deps.queue.maxItems,
      });
    }
    return c.json({ command_id: cmd.command_id, status: "queued" }, 202);
  });

  app.get("/api/v1/commands/wait/:hash", async (c) => {
    requireScope(c, "commands:wait");
    if (c.req.param("hash") !== deps.deploymentHash) {
      throw new HttpError(404, "unknown deployment hash");
    }
    const asked = Number(c.req.query("timeout") ?? 30);
    if (!Number.isFinite(asked) || asked < 0) {
      throw new HttpError(400, "timeout must be a number of seconds >= 0", { field: "timeout" });
    }
    const timeoutMs = deps.draining() ? 0 : Math.min(asked * 1000, deps.maxWaitMs);
    const item = await deps.queue.wait(timeoutMs, c.req.raw.signal);
    if (!item) return c.body(null, 204);
    return c.json({ item, meta: { next_poll_secs: 0 } });
  });

  app.post("/api/v1/commands/report", async (c) => {
    requireScope(c, "commands:report");
    const r = reportSchema.safeParse(await jsonBody(c));
    if (!r.success) {
      const field = r.error.issues[0].path.map(String).join(".") || "body";
      throw new HttpError(400, `invalid report: ${field}: ${r.error.issues[0].message}`, { field });
    }
    deps.queue.report(r.data);
    return c.json({ accepted: true });
  });
}
