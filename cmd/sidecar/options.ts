/**
 * The sidecar's core options from its configuration: shared by the main isolate and every
 * worker isolate (`--workers`), which each build their own from the same settings.
 * @module
 */
import { meshAuthFor, resolveSecretSetting } from "../../core/auth/mod.ts";
import type { SourceMap } from "../../core/config/mod.ts";
import { describeSource } from "../../core/errors/mod.ts";
import { edgeOptions } from "../../core/http/mod.ts";
import type { Logger } from "../../core/log/mod.ts";
import type { SidecarOptions } from "../../core/sidecar/mod.ts";
import type { SidecarConfig } from "./config.ts";

/**
 * Maps the configuration onto the sidecar's options; `sources` (where each value came from)
 * lets the start-up notices name the setting the operator used.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials (protected mode), or a token setting whose file cannot be read.
 */
export function sidecarOptions(
  config: SidecarConfig,
  log: Logger,
  sources?: SourceMap,
): SidecarOptions {
  const named = (key: string): string | undefined => {
    const source = sources?.get(key);
    return source && source.kind !== "default" ? `${key} (${describeSource(source)})` : undefined;
  };
  return {
    host: config.host,
    port: config.port,
    log,
    edge: edgeOptions(config),
    auth: meshAuthFor(config, {
      command: "sidecar",
      host: config.host,
      hostSource: sources?.get("host"),
      log,
    }),
    insecure: config.insecure,
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
      names: { token: named("override_token"), legacy: named("legacy_override") },
    },
    recorder: {
      capacity: config.trace_capacity,
      file: config.recorder_file || undefined,
      maxRows: config.recorder_max_rows,
      maxBytes: config.recorder_max_bytes,
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
      relayTimeoutMs: config.relay_timeout,
      relayFlushTimeoutMs: config.relay_flush_timeout,
      auditUrl: config.audit_url || undefined,
      auditToken: resolveSecretSetting("audit_token", config.audit_token),
      auditTimeoutMs: config.audit_timeout,
      auditFlushTimeoutMs: config.audit_flush_timeout,
      closeTimeoutMs: config.drain_timeout,
    },
    proxy: {
      timeoutMs: config.upstream_timeout,
      maxBodyBytes: config.max_body_bytes,
      maxJsonDepth: config.max_json_depth,
      tracePayloadChars: config.trace_payload_bytes,
      forwardHeaders: config.forward_headers,
    },
  };
}
