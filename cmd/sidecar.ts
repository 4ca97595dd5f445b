/**
 * `iatp sidecar`: the IATP trust proxy in front of an agent (core/sidecar), and
 * `iatp sidecar verify-attestation URL` to check another sidecar's attestation.
 * @module
 */
import { meshAuthFor, resolveSecretSetting } from "../core/auth/mod.ts";
import { edgeOptions, type Service } from "../core/http/mod.ts";
import { createLogger, type Logger } from "../core/log/mod.ts";
import { startSidecarServer } from "../core/sidecar/mod.ts";
import { serviceCommand } from "./shared.ts";
import { type SidecarConfig, sidecarSpec } from "./sidecar/config.ts";
import { VERIFY_USAGE, verifyAttestationCommand } from "./sidecar/verify.ts";
export { verifyAttestation } from "./sidecar/verify.ts";

export type { SidecarConfig };

/**
 * Starts the sidecar.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials (protected mode), `signing_key` for a malformed seed, a token setting whose
 * file cannot be read, or `recorder_url` when its Redis cannot be reached.
 */
export async function start(
  config: SidecarConfig,
  deps: { log?: Logger } = {},
): Promise<Service> {
  const log = deps.log ?? createLogger({ service: "sidecar", level: config.log_level });
  return await startSidecarServer({
    host: config.host,
    port: config.port,
    log,
    edge: edgeOptions(config),
    auth: meshAuthFor(config, { command: "sidecar", host: config.host, log }),
    agentUrl: config.agent_url,
    identity: {
      agentId: config.agent_id,
      factors: {
        trustLevel: config.trust_level,
        reversibility: config.reversibility,
        retention: config.retention,
        humanInLoop: config.human_in_loop,
        trainingConsent: config.training_consent,
      },
      manifest: {
        owner: config.owner || undefined,
        agentVersion: config.agent_version || undefined,
        rateLimit: config.rate_limit,
        storageLocation: config.storage_location || undefined,
        encryptionAtRest: config.encryption_at_rest,
        encryptionInTransit: config.encryption_in_transit,
        scopes: config.scopes,
        idempotency: config.idempotency,
        concurrencyLimit: config.concurrency_limit,
        slaLatencyMs: config.sla_latency_ms,
        undoWindowSeconds: config.undo_window_seconds,
        compensationMethod: config.compensation_method || undefined,
      },
      signingSeed: resolveSecretSetting("signing_key", config.signing_key),
      attestationTtlMs: config.attestation_ttl,
    },
    override: {
      token: resolveSecretSetting("override_token", config.override_token),
      legacy: config.legacy_override,
    },
    recorder: {
      capacity: config.trace_capacity,
      file: config.recorder_file || undefined,
      maxRows: config.recorder_max_rows,
      shared: config.recorder_url
        ? {
          url: config.recorder_url,
          password: resolveSecretSetting("recorder_password", config.recorder_password),
          ttlMs: config.recorder_ttl,
          traceCap: config.recorder_trace_cap,
          maxBacklog: config.recorder_backlog,
          connectTimeoutMs: config.recorder_connect_timeout,
          commandTimeoutMs: config.recorder_command_timeout,
        }
        : undefined,
    },
    events: {
      relayUrl: config.relay_url || undefined,
      relayToken: resolveSecretSetting("relay_token", config.relay_token),
      auditUrl: config.audit_url || undefined,
      auditToken: resolveSecretSetting("audit_token", config.audit_token),
      closeTimeoutMs: config.drain_timeout,
    },
    proxy: {
      timeoutMs: config.upstream_timeout,
      maxBodyBytes: config.max_body_bytes,
      maxJsonDepth: config.max_json_depth,
      tracePayloadChars: config.trace_payload_bytes,
      forwardHeaders: config.forward_headers,
    },
  });
}

const service = serviceCommand(sidecarSpec, start);

/** The sidecar command (service + `verify-attestation` sub-verb). */
export const command = {
  ...service,
  usage: () => `${service.usage()}\n\n${VERIFY_USAGE}`,
  run: (argv: string[]) =>
    argv[0] === "verify-attestation" ? verifyAttestationCommand(argv.slice(1)) : service.run(argv),
};
