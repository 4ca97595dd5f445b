/**
 * Wires the sidecar: signing key, signed manifest, attestation, override policy, flight
 * recorder (+ durable store, relay/audit fan-out) and the routes. With auth on, trace lookups
 * need `trace:read`; `/proxy` (the agent's own entrance, gated by the trust decision), the
 * manifest and the attestation stay open. Answers carry the Python sidecar's names beside
 * iatp's (`logs` beside `records`, `detail` in 404s) so its clients read them unchanged.
 * @module
 */
import { type MeshAuth, requireMeshScope } from "../../core/auth/bearer.ts";
import { meshAuthFor, resolveSecretSetting } from "../../core/auth/config.ts";
import { HttpError } from "../../core/errors/mod.ts";
import {
  type App,
  createServer,
  edgeOptions,
  type FastRoute,
  type Service,
} from "../../core/http/mod.ts";
import { createOriginClient } from "../../core/http/client/mod.ts";
import { createLogger, type Logger } from "../../core/log/mod.ts";
import "../../core/pii/mod.ts"; // keeps cards and SSNs out of every log line
import { FlightRecorder, isValidTraceId, openRecordStore } from "../../core/recorder/mod.ts";
import { createOverridePolicy, isQuarantined, trustScore } from "../../core/trust/mod.ts";
import type { SidecarConfig } from "./config.ts";
import { createEventSink } from "./events.ts";
import { createIdentity, type Identity } from "./identity.ts";
import { createProxy } from "./proxy.ts";

/** The manifest fields the trust score depends on. */
function factors(config: SidecarConfig) {
  return {
    trustLevel: config.trust_level,
    reversibility: config.reversibility,
    retention: config.retention,
    humanInLoop: config.human_in_loop,
    trainingConsent: config.training_consent,
  };
}

/** The flight recorder (with its optional durable store) and the relay/audit fan-out. */
function createRecorder(config: SidecarConfig, log: Logger) {
  const events = createEventSink({
    agentId: config.agent_id,
    relayUrl: (config.relay_url as string | undefined) || undefined,
    relayToken: resolveSecretSetting("relay_token", config.relay_token),
    auditUrl: (config.audit_url as string | undefined) || undefined,
    auditToken: resolveSecretSetting("audit_token", config.audit_token),
    log,
    closeTimeoutMs: config.drain_timeout,
  });
  const file = config.recorder_file as string | undefined;
  const recorder = new FlightRecorder({
    capacity: config.trace_capacity,
    store: file ? openRecordStore(file, { maxRows: config.recorder_max_rows, log }) : undefined,
    onRecord: (r) => events.onRecord(r),
  });
  return { recorder, events };
}

/**
 * Starts the sidecar.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials (protected mode), or a token setting whose file cannot be read.
 */
export async function start(config: SidecarConfig, deps: { log?: Logger } = {}): Promise<Service> {
  const log = deps.log ?? createLogger({ service: "sidecar", level: config.log_level });
  const auth = meshAuthFor(config, { command: "sidecar", host: config.host, log });
  const f = factors(config);
  const score = trustScore(f);
  const identity = await createIdentity(config, f, log);
  const override = createOverridePolicy({
    token: (config.override_token || config.trusted_user_override_token) as string | undefined,
    legacy: config.legacy_override,
  });
  for (const n of override.notices) log[n.level](n.msg);

  const { recorder, events } = createRecorder(config, log);

  const upstream = createOriginClient(config.agent_url);
  const proxy = createProxy({
    agentUrl: config.agent_url,
    send: upstream.send,
    timeoutMs: config.upstream_timeout_ms,
    maxBodyBytes: config.max_body_bytes,
    maxJsonDepth: config.max_json_depth,
    tracePayloadChars: config.trace_payload_bytes,
    forwardHeaders: config.forward_headers,
    decision: {
      retention: config.retention,
      reversibility: config.reversibility,
      humanInLoop: config.human_in_loop,
      trustScore: score,
      quarantined: isQuarantined(f),
      agentId: config.agent_id,
    },
    override,
    recorder,
  });
  // Served before Hono's router and middleware.
  const fast: FastRoute = { route: PROXY_ROUTE_LABEL, handle: (req) => proxy.handle(req) };
  const server = createServer({
    service: "sidecar",
    host: config.host,
    port: config.port,
    log,
    ...edgeOptions(config),
    health: () => ({ status: "healthy", agent_id: config.agent_id }),
    // /proxy enforces its own limit so even a 413 carries the trace id.
    bodyLimitExempt: isProxyPath,
    fastPath: (req, path) => req.method === "POST" && isProxyPath(path) ? fast : undefined,
  });
  registerInfoRoutes(server.app, identity, recorder, auth);
  // Also registered with Hono (percent-escaped paths; 405 with Allow for other methods).
  const handler = (c: { req: { raw: Request } }) => proxy.handle(c.req.raw);
  server.app.post("/proxy", handler);
  server.app.post("/proxy/*", handler);

  const svc = await server.listen();
  log.info("sidecar ready", {
    agent_url: config.agent_url,
    agent_id: config.agent_id,
    trust_score: score,
    quarantined: isQuarantined(f),
    override: override.mode,
    codebase_hash: identity.codebaseHash,
  });
  let closing: Promise<void> | undefined;
  return {
    url: svc.url,
    failed: svc.failed,
    close: () =>
      closing ??= (async () => {
        await svc.close();
        upstream.close();
        await recorder.close();
        await events.close();
      })(),
  };
}

/** The metrics route label of every /proxy request (what Hono's routePath reports for both). */
const PROXY_ROUTE_LABEL = "/proxy/*";

/** `/proxy` and `/proxy/<path>`. */
function isProxyPath(path: string): boolean {
  return path === "/proxy" || path.startsWith("/proxy/");
}

/** Manifest (both routes), attestation and trace lookup (`trace:read` when auth is on). */
function registerInfoRoutes(
  app: App,
  identity: Identity,
  recorder: FlightRecorder,
  auth: MeshAuth,
): void {
  const { signed, attestation } = identity;
  const manifestResponse = () =>
    new Response(signed.body, {
      headers: { "content-type": "application/json", "X-IATP-Signature": signed.signature },
    });
  app.get("/capabilities", manifestResponse);
  app.get("/.well-known/agent-manifest", manifestResponse);
  app.get("/.well-known/agent-attestation", async (c) => {
    if (!attestation) {
      // 404 with `detail`, as the Python sidecar answers when it has no attestation.
      throw new HttpError(404, "attestation unavailable: sources could not be hashed", {
        detail: "No attestation available for this agent",
      });
    }
    return c.json(await attestation());
  });
  app.get("/trace/:trace_id", requireMeshScope(auth, "trace:read"), (c) => {
    const id = c.req.param("trace_id");
    if (!isValidTraceId(id)) throw new HttpError(400, "invalid trace id");
    const records = recorder.trace(id);
    if (records.length === 0) {
      throw new HttpError(404, "trace not found", { trace_id: id, detail: "Trace not found" });
    }
    // `logs` is the Python sidecar's name for the same list.
    return c.json({ trace_id: id, records, logs: records });
  });
}
