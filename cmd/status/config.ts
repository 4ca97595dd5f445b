/**
 * `iatp status` configuration: every setting is `IATP_STATUS_<KEY>`, and the TryDirect status
 * panel's env names (AGENT_ID, AGENT_TOKEN, DASHBOARD_URL, DEPLOYMENT_HASH, VAULT_*,
 * COMPOSE_AGENT_ENABLED, STATUS_PANEL_BIND, POLLING_*, METRICS_INTERVAL_SECS, ALERT_*) are read
 * too, by this command only: it is the status panel's replacement.
 *
 * The agent's HMAC key (AGENT_TOKEN or Vault `status_panel_token`) only signs requests. What it
 * sends as `Authorization: Bearer` to its dashboard is a separate credential, `dashboard_token`
 * (or Vault `status_panel_dashboard_token`); with none it sends the signature alone. Only in the
 * `signing: upstream|both` compatibility mode does it send the agent token as the bearer, as a
 * TryDirect dashboard (Stacker) requires; that start warns.
 *
 * Its reads are protected as every service's: with `auth_keys` they need `status:read`, and
 * beyond loopback with no keys it refuses to start unless `insecure` (core/auth/mesh).
 *
 * The dashboard's answers carry no signature (only the agent's requests are signed): over plain
 * HTTP anyone on the network path can hand the agent a command it then runs and signs onwards. So
 * an `http://` dashboard_url whose host is not loopback is refused unless `dashboard_insecure_http`.
 * @module
 */
import { meshAuthFields } from "../../core/auth/mesh/mod.ts";
import { serviceFields } from "../../core/http/mod.ts";
import {
  type AliasNames,
  bool,
  DATA_DIR,
  defineConfig,
  duration,
  type Infer,
  int,
  num,
  path,
  type PathGrant,
  section,
  str,
  url,
} from "../../core/config/mod.ts";
import { DEFAULT_DOCKER_SOCKET } from "../../core/docker/wire/mod.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import { MIN_HMAC_KEY_BYTES } from "../../core/auth/agent/mod.ts";
import { isLoopbackHost } from "../../core/auth/mesh/mod.ts";
import {
  agentAuthFields,
  checkLiteralHmacKey,
  TRYDIRECT_UNUSED_KEYS,
} from "../../core/hostagent/mod.ts";

function pct(name: string, level: "warning" | "critical", def: number) {
  return num({
    help: `${name} ${level} threshold in percent`,
    default: def,
    min: 0,
    max: 100,
  });
}

/** The status panel's env names, by setting. */
function upstreamEnv(): Record<string, AliasNames> {
  const alerts: Record<string, AliasNames> = {};
  for (const m of ["cpu", "memory", "disk"]) {
    for (const level of ["warning", "critical"]) {
      alerts[`alert_${m}_${level}`] = `ALERT_${m.toUpperCase()}_${level.toUpperCase()}`;
    }
  }
  return {
    host: "STATUS_PANEL_BIND",
    agent_id: "AGENT_ID",
    agent_token: "AGENT_TOKEN",
    deployment_hash: "DEPLOYMENT_HASH",
    "vault.address": "VAULT_ADDRESS",
    "vault.token": "VAULT_TOKEN",
    "vault.path_prefix": "VAULT_AGENT_PATH_PREFIX",
    "vault.token_key": "VAULT_TOKEN_KEY",
    dashboard_url: "DASHBOARD_URL",
    polling_timeout: { name: "POLLING_TIMEOUT_SECS", unit: "s" },
    polling_backoff: { name: "POLLING_BACKOFF_SECS", unit: "s" },
    control_plane: "CONTROL_PLANE",
    "compose_agent.enabled": "COMPOSE_AGENT_ENABLED",
    metrics_interval: { name: "METRICS_INTERVAL_SECS", unit: "s" },
    ...alerts,
  };
}

/** The status agent declaration. */
export const statusSpec = defineConfig({
  command: "status",
  summary: "Host status agent: /proc metrics, threshold alerts, and the dashboard command link " +
    "(Docker work is forwarded to the compose-agent unless in legacy mode).",
  fields: {
    ...serviceFields(5000),
    ...meshAuthFields(),
    ...agentAuthFields("status_panel_token"),
    dashboard_token: str({
      help: "bearer credential for the dashboard, never the HMAC key (or file:PATH); " +
        "with none, requests carry the signature alone",
      secret: true,
      fileRef: true,
    }),
    dashboard_token_vault_key: str({
      help: "this agent's dashboard token key in Vault, beside its HMAC key (when VAULT_ADDRESS " +
        "is set; a missing secret means none)",
      default: "status_panel_dashboard_token",
      pattern: /^[A-Za-z0-9_.-]{1,128}$/,
    }),
    dashboard_url: url({
      help:
        "dashboard base URL; enables the command long poll (https://; http:// only on loopback " +
        "unless dashboard_insecure_http)",
    }),
    dashboard_insecure_http: bool({
      help: "allow an http:// dashboard_url beyond loopback: its answers are not authenticated, " +
        "so anyone on the network path can send commands this agent runs (warned at every start)",
      default: false,
    }),
    polling_timeout: duration({
      help: "long-poll timeout asked of the dashboard (whole seconds)",
      default: 30_000,
      max: 300_000,
    }),
    polling_backoff: duration({
      help: "wait after a failed poll (doubles up to 12x, with jitter)",
      default: 5_000,
      min: 10,
    }),
    report_attempts: int({ help: "attempts to deliver one report", default: 8, min: 1, max: 50 }),
    control_plane: str({
      help: "name of the control plane this agent reports to (shown in /capabilities)",
      default: "status_panel",
      pattern: /^[A-Za-z0-9_.-]{1,64}$/,
    }),
    compose_agent: section({
      enabled: bool({
        help: "forward Docker commands to the compose-agent (false = legacy mode)",
        default: true,
      }),
      url: url({ help: "compose-agent base URL", default: "http://127.0.0.1:5001" }),
      token: str({
        help:
          `HMAC key the compose-agent verifies (its agent_token; at least ${MIN_HMAC_KEY_BYTES} ` +
          "bytes), or file:PATH",
        secret: true,
        fileRef: true,
      }),
      timeout: duration({ help: "deadline of one forwarded command", default: 330_000, min: 100 }),
    }),
    legacy: bool({ help: "legacy mode: run Docker commands here, on the socket", default: false }),
    docker_socket: path({
      help: "Docker socket (legacy mode only)",
      grants: () => [], // granted only in legacy mode: see the spec's grants below
      default: DEFAULT_DOCKER_SOCKET,
      access: "write",
    }),
    projects_root: path({
      help: "legacy deploy_app project root",
      grants: () => [], // granted only in legacy mode: see the spec's grants below
      default: `${DATA_DIR}/projects`,
      access: "write",
    }),
    work_dir: path({
      help: "legacy inline compose files",
      grants: () => [], // granted only in legacy mode: see the spec's grants below
      default: `${DATA_DIR}/status/apps`,
      access: "write",
    }),
    metrics_interval: duration({
      help: "host metrics sampling interval",
      default: 15_000,
      min: 50,
    }),
    disk_path: path({
      help: "a path on the filesystem whose usage is reported",
      default: DATA_DIR,
      access: "read",
    }),
    proc_root: path({
      help: "parse /proc-format files here instead of the system APIs (e.g. a host /proc mount)",
      access: "read",
    }),
    alert_cpu_warning: pct("cpu", "warning", 80),
    alert_cpu_critical: pct("cpu", "critical", 95),
    alert_memory_warning: pct("memory", "warning", 80),
    alert_memory_critical: pct("memory", "critical", 95),
    alert_disk_warning: pct("disk", "warning", 80),
    alert_disk_critical: pct("disk", "critical", 95),
    alert_hysteresis_pct: num({
      help: "margin below a threshold to clear it",
      default: 2,
      min: 0,
      max: 50,
    }),
    max_stream_clients: int({
      help: "concurrent /api/v1/metrics/stream clients",
      default: 64,
      min: 1,
    }),
  },
  upstream: {
    system: "the TryDirect status panel",
    env: upstreamEnv(),
    keys: { "compose_agent.enabled": "compose_agent_enabled" },
  },
  tolerated: TRYDIRECT_UNUSED_KEYS,
  deprecated: {
    flags: {
      polling_timeout: { name: "polling-timeout-secs", unit: "s" },
      polling_backoff: { name: "polling-backoff-secs", unit: "s" },
      metrics_interval: { name: "metrics-interval-secs", unit: "s" },
    },
    keys: {
      polling_timeout: { name: "polling_timeout_secs", unit: "s" },
      polling_backoff: { name: "polling_backoff_secs", unit: "s" },
      metrics_interval: { name: "metrics_interval_secs", unit: "s" },
    },
  },
  // The Docker socket and the legacy deploy folders are granted only when this agent runs
  // Docker itself; forwarding to the compose-agent, it may not touch them.
  grants: (c): PathGrant[] =>
    c.legacy || !c.compose_agent.enabled
      ? [c.docker_socket, c.projects_root, c.work_dir].map((p) => ({ path: p, access: "write" }))
      : [],
  check: (c, sources) => {
    for (const m of ["cpu", "memory", "disk"] as const) {
      const w = c[`alert_${m}_warning`];
      const k = c[`alert_${m}_critical`];
      if (w > k) {
        throw new ConfigError(
          `alert_${m}_warning`,
          sources.get(`alert_${m}_warning`) ?? { kind: "default" },
          `at most alert_${m}_critical (${k})`,
          String(w),
        );
      }
    }
    // Upstream signing: Stacker wants the agent token itself as the bearer (warned at start).
    if (c.signing === "iatp" && c.dashboard_token && c.dashboard_token === c.agent_token) {
      throw new ConfigError(
        "dashboard_token",
        sources.get("dashboard_token") ?? { kind: "default" },
        "a credential of its own, not the HMAC key (agent_token): a captured request " +
          "would let anyone forge signatures",
        "the HMAC key",
      );
    }
    checkLiteralHmacKey("agent_token", c.agent_token, sources);
    checkLiteralHmacKey("compose_agent.token", c.compose_agent.token, sources);
    if (c.dashboard_url && !c.dashboard_insecure_http && plainBeyondLoopback(c.dashboard_url)) {
      throw new ConfigError(
        "dashboard_url",
        sources.get("dashboard_url") ?? { kind: "default" },
        "an https:// URL, or http:// only on loopback: the dashboard's answers are not signed, " +
          "so over plain HTTP anyone on the network path can send commands this agent runs; " +
          "or --dashboard-insecure-http (IATP_STATUS_DASHBOARD_INSECURE_HTTP=true) to accept that",
        originOf(c.dashboard_url),
      );
    }
    if (c.dashboard_url && !c.deployment_hash) {
      throw new ConfigError(
        "deployment_hash",
        sources.get("deployment_hash") ?? { kind: "default" },
        "a deployment hash when dashboard_url is set",
        "nothing",
      );
    }
  },
});

/** True for an `http://` URL whose host is not loopback (127.0.0.0/8, ::1, localhost). */
export function plainBeyondLoopback(dashboardUrl: string): boolean {
  const u = new URL(dashboardUrl);
  return u.protocol === "http:" && !isLoopbackHost(u.hostname);
}

/** A URL's scheme, host and port: never its user, password, path or query. */
function originOf(raw: string): string {
  const u = new URL(raw);
  return `${u.protocol}//${u.host}`;
}

/** The validated status config. */
export type StatusConfig = Infer<typeof statusSpec.spec.fields>;

/** True when this agent runs Docker commands itself. */
export function isLegacy(c: StatusConfig): boolean {
  return c.legacy || !c.compose_agent.enabled;
}
