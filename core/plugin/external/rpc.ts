/**
 * The agent's JSON-RPC 2.0 socket that Stavily plugins call (Machine-Data-Extractor's
 * `stavily_agent_client.py`): a Unix socket, one request per connection (JSON, newline
 * terminated), one response. Methods: `ping`, `get_agent_info`, `get_config{section}`,
 * `report_trigger{trigger_name, payload}`, `upload_logs{logs, instruction_id?}`.
 * Requests and connections are bounded; nothing a plugin sends can crash the agent.
 * @module
 */
import type { TriggerEvent } from "../contract.ts";
import type { PluginManifest } from "../manifest.ts";
import { errorMessage } from "../../errors/mod.ts";

/** Largest request read (the client sends at most what one `recv(65536)` answers). */
const MAX_RPC_REQUEST_BYTES = 64 * 1024;
/** Most connections served at once. */
const MAX_RPC_CONNECTIONS = 16;
/** Longest a connection may take to send its request. */
const RPC_READ_TIMEOUT_MS = 5_000;

/** What the socket answers with; each handler may throw to answer an error. */
export interface RpcHandlers {
  agentInfo(): { agent_id: string; version: string; environment: string };
  /** The plugin's own config (a section of it when named); never other plugins' secrets. */
  config(section: string | undefined): Record<string, unknown>;
  reportTrigger(name: string, payload: Record<string, unknown>): { event_id: string };
  uploadLogs(
    logs: Array<{ level: string; message: string; timestamp?: string }>,
    instructionId?: string,
  ): number;
}

type Json = Record<string, unknown>;

function error(id: unknown, code: number, message: string): Json {
  return { jsonrpc: "2.0", error: { code, message }, id: id ?? null };
}

function obj(v: unknown): Json | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v as Json : undefined;
}

/** Answers one request text (exported for tests). */
export function handleRpc(text: string, h: RpcHandlers): Json {
  let req: Json | undefined;
  try {
    req = obj(JSON.parse(text));
  } catch {
    return error(null, -32700, "Parse error");
  }
  if (!req || req.jsonrpc !== "2.0" || typeof req.method !== "string") {
    return error(req?.id, -32600, "Invalid Request");
  }
  const params = obj(req.params) ?? {};
  const ok = (result: unknown) => ({ jsonrpc: "2.0", result, id: req!.id ?? null });
  try {
    switch (req.method) {
      case "ping":
        return ok({ pong: true });
      case "get_agent_info":
        return ok(h.agentInfo());
      case "get_config":
        return ok({
          config: h.config(typeof params.section === "string" ? params.section : undefined),
        });
      case "report_trigger": {
        const payload = obj(params.payload) ?? {};
        if (typeof params.trigger_name !== "string" || params.trigger_name === "") {
          return error(req.id, -32602, "Invalid params: trigger_name");
        }
        return ok({ acknowledged: true, ...h.reportTrigger(params.trigger_name, payload) });
      }
      case "upload_logs": {
        if (!Array.isArray(params.logs)) return error(req.id, -32602, "Invalid params: logs");
        const logs = params.logs.filter(obj).map((l) => {
          const r = l as Json;
          return {
            level: String(r.level ?? "info").slice(0, 16),
            message: String(r.message ?? "").slice(0, 4096),
            timestamp: typeof r.timestamp === "string" ? r.timestamp.slice(0, 64) : undefined,
          };
        });
        const iid = typeof params.instruction_id === "string" ? params.instruction_id : undefined;
        return ok({ accepted: h.uploadLogs(logs, iid) });
      }
      default:
        return error(req.id, -32601, "Method not found");
    }
  } catch (err) {
    return error(req.id, -32000, errorMessage(err).slice(0, 200));
  }
}

async function readRequest(conn: Deno.Conn): Promise<string | undefined> {
  const buf = new Uint8Array(MAX_RPC_REQUEST_BYTES + 1);
  let len = 0;
  const deadline = AbortSignal.timeout(RPC_READ_TIMEOUT_MS);
  const timer = setTimeout(() => conn.close(), RPC_READ_TIMEOUT_MS);
  try {
    while (len <= MAX_RPC_REQUEST_BYTES && !deadline.aborted) {
      const n = await conn.read(buf.subarray(len));
      if (n === null) break;
      len += n;
      if (buf.subarray(0, len).includes(10)) break;
    }
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
  if (len > MAX_RPC_REQUEST_BYTES) return undefined;
  return new TextDecoder().decode(buf.subarray(0, len)).trim();
}

/** A listening RPC socket. */
export interface RpcServer {
  path: string;
  close(): Promise<void>;
}

/**
 * Serves `h` on a Unix socket at `path` (the file is replaced if stale).
 * @throws {Deno.errors.PermissionDenied} when the agent may not create the socket.
 */
export function serveRpc(path: string, h: RpcHandlers): RpcServer {
  try {
    Deno.removeSync(path);
  } catch { /* none */ }
  const listener = Deno.listen({ transport: "unix", path });
  let open = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      if (open >= MAX_RPC_CONNECTIONS) {
        conn.close();
        continue;
      }
      open++;
      (async () => {
        try {
          const text = await readRequest(conn);
          const res = text === undefined
            ? error(null, -32600, "Invalid Request")
            : handleRpc(text, h);
          await conn.write(new TextEncoder().encode(JSON.stringify(res) + "\n"));
        } catch {
          /* the plugin hung up */
        } finally {
          open--;
          try {
            conn.close();
          } catch { /* closed by the timeout */ }
        }
      })();
    }
  })().catch(() => {});
  return {
    path,
    close: async () => {
      listener.close();
      await serving;
      try {
        Deno.removeSync(path);
      } catch { /* gone */ }
    },
  };
}

/** What {@linkcode agentHandlers} answers from. */
export interface AgentHandlerContext {
  manifest: PluginManifest;
  config: Record<string, unknown>;
  agent?: { id: string; version: string; environment: string };
  /** Reported triggers are appended here (up to `maxEvents`) for the next detect(). */
  events: TriggerEvent[];
  maxEvents: number;
  onLogs?: (instructionId: string | undefined, lines: string[]) => void;
}

/**
 * The agent's answers for one plugin: its identity, the plugin's own config without its
 * secrets, report_trigger as a buffered trigger event, upload_logs to the instruction's log.
 */
export function agentHandlers(ctx: AgentHandlerContext): RpcHandlers {
  const m = ctx.manifest;
  return {
    agentInfo: () => ({
      agent_id: ctx.agent?.id ?? "",
      version: ctx.agent?.version ?? "",
      environment: ctx.agent?.environment ?? "",
    }),
    config: (section) => {
      const own = Object.fromEntries(
        Object.entries(ctx.config).filter(([k]) => !m.config[k]?.secret),
      );
      const v = section ? own[section] : own;
      return v !== null && typeof v === "object" ? v as Json : section ? { [section]: v } : own;
    },
    reportTrigger: (name, payload) => {
      const id = crypto.randomUUID();
      if (ctx.events.length < ctx.maxEvents) {
        ctx.events.push({
          id,
          type: name,
          source: m.id,
          timestamp: new Date().toISOString(),
          severity: "high",
          data: payload,
          tags: [],
          metadata: { plugin_id: m.id, plugin_version: m.version },
        });
      }
      return { event_id: id };
    },
    uploadLogs: (logs, iid) => {
      ctx.onLogs?.(iid, logs.map((l) => `${l.level}: ${l.message}`));
      return logs.length;
    },
  };
}
