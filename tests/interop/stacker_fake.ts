/**
 * A fake of TryDirect's Stacker agent API as its source defines it (trydirect/status,
 * stacker/stacker/src): agents authenticate with `X-Agent-Id` (a UUID) and `Authorization:
 * Bearer <agent token>` (middleware/authentication/method/f_agent.rs; no HMAC check); `wait`
 * answers 200 `{message, item: Command|null, meta: {next_poll_secs}}` (routes/agent/wait.rs,
 * helpers/json.rs); `report` refuses a foreign deployment hash (403) and validates the typed
 * result of health, logs and restart (forms/status_panel.rs `validate_command_result`: 400).
 * @module
 */

/** The container states Stacker's ContainerState enum takes. */
const CONTAINER_STATES = ["running", "exited", "starting", "failed", "unknown"];

/** A report Stacker accepted. */
export interface StackerReport {
  command_id: string;
  deployment_hash: string;
  status: string;
  result?: Record<string, unknown>;
  [k: string]: unknown;
}

/** A running fake Stacker. */
export interface FakeStacker {
  url: string;
  enqueue(type: string, parameters: Record<string, unknown>): string;
  accepted: StackerReport[];
  refused: Array<{ status: number; error: string }>;
  waitForReport(commandId: string, timeoutMs?: number): Promise<StackerReport>;
  close(): Promise<void>;
}

/** Stacker's `validate_command_result` for the types the agent reports here. */
export function validateCommandResult(type: string, hash: string, result: unknown): string | null {
  if (!["health", "logs", "restart"].includes(type)) return null;
  if (result === null || typeof result !== "object") return `${type} result payload is required`;
  const r = result as Record<string, unknown>;
  if (r.type !== type) return `${type} result must include type='${type}'`;
  if (r.deployment_hash !== hash) return `${type} result deployment_hash mismatch`;
  if (typeof r.app_code !== "string" || r.app_code.trim() === "") {
    return `${type}.app_code is required`;
  }
  if (type === "logs") {
    const lines = (r.lines ?? []) as Array<Record<string, unknown>>;
    const ok = Array.isArray(lines) &&
      lines.every((l) =>
        typeof l.message === "string" && ["stdout", "stderr"].includes(String(l.stream)) &&
        !Number.isNaN(Date.parse(String(l.ts)))
      );
    return ok ? null : "Invalid logs result";
  }
  const statuses = type === "restart" ? ["ok", "failed"] : ["ok", "unhealthy", "unknown"];
  if (!statuses.includes(String(r.status))) return `Invalid ${type} result: status`;
  if (!CONTAINER_STATES.includes(String(r.container_state))) {
    return `Invalid ${type} result: container_state`;
  }
  return Array.isArray(r.errors ?? []) ? null : `Invalid ${type} result: errors`;
}

/** Starts the fake on a free loopback port for one agent. */
export function startFakeStacker(
  opts: { agentId: string; token: string; deploymentHash: string },
): FakeStacker {
  const queue: Array<Record<string, unknown>> = [];
  const types = new Map<string, string>();
  const accepted: StackerReport[] = [];
  const refused: Array<{ status: number; error: string }> = [];
  const refuse = (status: number, error: string) => {
    refused.push({ status, error });
    return Response.json({ message: error }, { status });
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const id = req.headers.get("x-agent-id") ?? "";
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
      return refuse(401, "Invalid Agent ID format");
    }
    if (id !== opts.agentId || req.headers.get("authorization") !== `Bearer ${opts.token}`) {
      return refuse(401, "Invalid agent token");
    }
    const wait = /^\/api\/v1\/agent\/commands\/wait\/([^/]+)$/.exec(u.pathname);
    if (wait && req.method === "GET") {
      if (decodeURIComponent(wait[1]) !== opts.deploymentHash) {
        return refuse(403, "Not authorized for this deployment");
      }
      const item = queue.shift() ?? null;
      if (!item) await new Promise((r) => setTimeout(r, 50));
      return Response.json({ message: "ok", item, meta: { next_poll_secs: 1 } });
    }
    if (u.pathname === "/api/v1/agent/commands/report" && req.method === "POST") {
      const body = await req.json() as StackerReport;
      if (body.deployment_hash !== opts.deploymentHash) return refuse(403, "hash mismatch");
      const type = types.get(body.command_id);
      if (!type) return refuse(404, "Command not found");
      const why = validateCommandResult(type, opts.deploymentHash, body.result);
      if (why) return refuse(400, why);
      accepted.push(body);
      return Response.json({ accepted: true, message: "Command result recorded" });
    }
    return refuse(404, "not found");
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    accepted,
    refused,
    enqueue(type, parameters) {
      const command_id = `cmd_${crypto.randomUUID()}`;
      types.set(command_id, type);
      queue.push({
        id: crypto.randomUUID(),
        command_id,
        deployment_hash: opts.deploymentHash,
        type,
        status: "queued",
        priority: "normal",
        parameters,
        result: null,
        error: null,
        created_by: "user-1",
        timeout_seconds: 300,
        metadata: null,
      });
      return command_id;
    },
    async waitForReport(commandId, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const r = accepted.find((a) => a.command_id === commandId);
        if (r) return r;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`no accepted report for ${commandId}; refused: ${JSON.stringify(refused)}`);
    },
    close: () => server.shutdown(),
  };
}
