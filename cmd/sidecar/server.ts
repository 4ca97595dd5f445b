/**
 * Wires the sidecar: signing key, signed manifest, attestation, override policy, flight
 * recorder (+ durable store, relay/audit fan-out) and the routes.
 * @module
 */
import { fileURLToPath } from "node:url";
import { fromBase64, generateKeyPair, importSeed, toBase64 } from "../../core/crypto/ed25519.ts";
import { ConfigError, HttpError } from "../../core/errors/mod.ts";
import { createServer, type Service } from "../../core/http/mod.ts";
import { createLogger, type Logger } from "../../core/log/mod.ts";
import "../../core/pii/mod.ts"; // keeps cards and SSNs out of every log line
import { FlightRecorder, isValidTraceId, openRecordStore } from "../../core/recorder/mod.ts";
import {
  type Attestation,
  buildManifest,
  createAttestation,
  createOverridePolicy,
  hashCodebase,
  isQuarantined,
  signManifest,
  trustScore,
} from "../../core/trust/mod.ts";
import type { SidecarConfig } from "./config.ts";
import { createEventSink } from "./events.ts";
import { proxyHandler } from "./proxy.ts";
import { createUpstreamClient } from "./upstream.ts";

/** The checkout (or embedded) root whose sources the attestation hashes. */
export const SOURCE_ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function loadKeys(config: SidecarConfig, log: Logger) {
  const seed = config.signing_key as string | undefined;
  if (!seed) {
    const keys = await generateKeyPair();
    log.warn("IATP_SIGNING_KEY not set: generated an ephemeral Ed25519 key", {
      public_key: `ed25519:${toBase64(keys.publicRaw)}`,
    });
    return keys;
  }
  try {
    return await importSeed(fromBase64(seed));
  } catch {
    throw new ConfigError("signing_key", { kind: "env", name: "IATP_SIGNING_KEY" }, "base64 of a 32-byte Ed25519 seed", "something else");
  }
}

function factors(config: SidecarConfig) {
  return {
    trustLevel: config.trust_level,
    reversibility: config.reversibility,
    retention: config.retention,
    humanInLoop: config.human_in_loop,
    trainingConsent: config.training_consent,
  };
}

/** Keeps a fresh attestation: re-signed once less than a tenth of its validity remains. */
function attestationSource(
  make: () => Promise<Attestation>,
  ttlMs: number,
): () => Promise<Attestation> {
  let current: Promise<Attestation> | undefined;
  let expires = 0;
  return () => {
    if (!current || Date.now() > expires - ttlMs / 10) {
      expires = Date.now() + ttlMs;
      current = make();
    }
    return current;
  };
}

/** Starts the sidecar. */
export async function start(config: SidecarConfig, deps: { log?: Logger } = {}): Promise<Service> {
  const log = deps.log ?? createLogger({ service: "sidecar", level: config.log_level });
  const keys = await loadKeys(config, log);
  const f = factors(config);
  const score = trustScore(f);
  const signed = await signManifest(
    buildManifest({
      ...f,
      agentId: config.agent_id,
      owner: (config.owner as string | undefined) || undefined,
      verificationKey: keys.publicRaw,
      scopes: config.scopes,
      idempotency: config.idempotency,
      concurrencyLimit: config.concurrency_limit,
      slaLatencyMs: config.sla_latency_ms,
      undoWindowSeconds: config.undo_window_seconds,
      compensationMethod: (config.compensation_method as string | undefined) || undefined,
    }),
    keys.privateKey,
  );
  const override = createOverridePolicy({
    token: (config.override_token || config.trusted_user_override_token) as string | undefined,
    legacy: config.legacy_override,
  });
  for (const n of override.notices) log[n.level](n.msg);
  const codebase = await hashCodebase(SOURCE_ROOT).catch((err) => {
    log.error("cannot hash the program's sources; attestation unavailable", { err });
    return undefined;
  });
  const attestation = codebase
    ? attestationSource(() =>
      createAttestation({
        agentId: config.agent_id,
        codebaseHash: codebase.hash,
        configHash: signed.sha256,
        privateKey: keys.privateKey,
        publicRaw: keys.publicRaw,
        ttlMs: config.attestation_ttl,
      }), config.attestation_ttl)
    : undefined;

  const events = createEventSink({
    agentId: config.agent_id,
    relayUrl: (config.relay_url as string | undefined) || undefined,
    relayToken: (config.relay_token as string | undefined) || undefined,
    auditUrl: (config.audit_url as string | undefined) || undefined,
    log,
    closeTimeoutMs: config.drain_timeout,
  });
  const recorderFile = config.recorder_file as string | undefined;
  const recorder = new FlightRecorder({
    capacity: config.trace_capacity,
    store: recorderFile
      ? openRecordStore(recorderFile, { maxRows: config.recorder_max_rows, log })
      : undefined,
    onRecord: (r) => events.onRecord(r),
  });

  const server = createServer({
    service: "sidecar",
    host: config.host,
    port: config.port,
    log,
    maxBodyBytes: config.max_body_bytes,
    drainTimeoutMs: config.drain_timeout,
    health: () => ({ status: "healthy", agent_id: config.agent_id }),
    // /proxy enforces its own limit so even a 413 carries the trace id.
    bodyLimitExempt: (path) => path === "/proxy" || path.startsWith("/proxy/"),
  });
  const app = server.app;
  const manifestResponse = () =>
    new Response(signed.body, {
      headers: { "content-type": "application/json", "X-IATP-Signature": signed.signature },
    });
  app.get("/capabilities", manifestResponse);
  app.get("/.well-known/agent-manifest", manifestResponse);
  app.get("/.well-known/agent-attestation", async (c) => {
    if (!attestation) throw new HttpError(503, "attestation unavailable: sources could not be hashed");
    return c.json(await attestation());
  });
  app.get("/trace/:trace_id", (c) => {
    const id = c.req.param("trace_id");
    if (!isValidTraceId(id)) throw new HttpError(400, "invalid trace id");
    const records = recorder.trace(id);
    if (records.length === 0) throw new HttpError(404, "trace not found", { trace_id: id });
    return c.json({ trace_id: id, records });
  });
  const upstream = createUpstreamClient(config.agent_url);
  const handler = proxyHandler({
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
    },
    override,
    recorder,
  });
  app.post("/proxy", handler);
  app.post("/proxy/*", handler);

  const svc = await server.listen();
  log.info("sidecar ready", {
    agent_url: config.agent_url,
    agent_id: config.agent_id,
    trust_score: score,
    quarantined: isQuarantined(f),
    override: override.mode,
    codebase_hash: codebase?.hash,
  });
  let closing: Promise<void> | undefined;
  return {
    url: svc.url,
    close: () =>
      closing ??= (async () => {
        await svc.close();
        upstream.close();
        await recorder.close();
        await events.close();
      })(),
  };
}
