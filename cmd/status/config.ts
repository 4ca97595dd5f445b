/**
 * `iatp status` configuration. Upstream environment names (DASHBOARD_URL, DEPLOYMENT_HASH,
 * COMPOSE_AGENT_ENABLED, STATUS_PANEL_BIND, POLLING_*, METRICS_INTERVAL_SECS, ALERT_*, VAULT_*)
 * are kept; everything else is `IATP_STATUS_*`.
 *
 * The agent's HMAC key (AGENT_TOKEN or Vault `status_panel_token`) only signs requests. What it
 * sends as `Authorization: Bearer` to its dashboard is a separate credential, `dashboard_token`
 * (or Vault `status_panel_dashboard_token`); with none it sends the signature alone. Only in the
 * `signing: upstream|both` compatibility mode does it send the agent token as the bearer, as a
 * TryDirect dashboard (Stacker) requires; that start warns.
 * @module
 */
import { serviceFields } from "../../core/http/mod.ts";
import {
  bool,
  DATA_DIR,
  defineConfig,
  duration,
  type Infer,
  int,
  num,
  section,
  str,
  url,
} from "../../core/config/mod.ts";
import { DEFAULT_DOCKER_SOCKET } from "../../core/docker/mod.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import { agentAuthFields } from "../../core/hostagent/mod.ts";

function pct(name: string, level: "warning" | "critical", def: number) {
  return num({
    help: `${name} ${level} threshold in percent`,
    env: `ALERT_${name.toUpperCase()}_${level.toUpperCase()}`,
    default: def,
    min: 0,
    max: 100,
  });
}

/** The status agent declaration. */
export const statusSpec = defineConfig({
  command: "status",
  summary: "Host status agent: /proc metrics, threshold alerts, and the dashboard command link " +
    "(Docker work is forwarded to the compose-agent unless in legacy mode).",
  envPrefix: "IATP_STATUS_",
  fields: {
    ...serviceFields(5000),
    host: str({ help: "address to listen on", env: "STATUS_PANEL_BIND", default: "127.0.0.1" }),
    ...agentAuthFields("status_panel_token"),
    dashboard_token: str({
      help: "bearer credential for the dashboard, never the HMAC key (or file:PATH); " +
        "with none, requests carry the signature alone",
      secret: true,
    }),
    dashboard_token_vault_key: str({
      help: "this agent's dashboard token key in Vault, beside its HMAC key (when VAULT_ADDRESS " +
        "is set; a missing secret means none)",
      default: "status_panel_dashboard_token",
      pattern: /^[A-Za-z0-9_.-]{1,128}$/,
    }),
    dashboard_url: url({
      help: "dashboard base URL; enables the command long poll",
      env: "DASHBOARD_URL",
    }),
    polling_timeout_secs: int({
      help: "long-poll timeout asked of the dashboard",
      env: "POLLING_TIMEOUT_SECS",
      default: 30,
      min: 0,
      max: 300,
    }),
    polling_backoff_secs: num({
      help: "wait after a failed poll (doubles up to 12x, with jitter)",
      env: "POLLING_BACKOFF_SECS",
      default: 5,
      min: 0.01,
    }),
    report_attempts: int({ help: "attempts to deliver one report", default: 8, min: 1, max: 50 }),
    control_plane: str({
      help: "name of the control plane this agent reports to (shown in /capabilities)",
      env: "CONTROL_PLANE",
      default: "status_panel",
      pattern: /^[A-Za-z0-9_.-]{1,64}$/,
    }),
    compose_agent: section({
      enabled: bool({
        help: "forward Docker commands to the compose-agent (false = legacy mode)",
        env: "COMPOSE_AGENT_ENABLED",
        default: true,
      }),
      url: url({ help: "compose-agent base URL", default: "http://127.0.0.1:5001" }),
      token: str({
        help: "HMAC key the compose-agent verifies (its AGENT_TOKEN), or file:PATH",
        secret: true,
      }),
      timeout: duration({ help: "deadline of one forwarded command", default: 330_000, min: 100 }),
    }),
    legacy: bool({ help: "legacy mode: run Docker commands here, on the socket", default: false }),
    docker_socket: str({
      help: "Docker socket (legacy mode only)",
      default: DEFAULT_DOCKER_SOCKET,
    }),
    projects_root: str({ help: "legacy deploy_app project root", default: `${DATA_DIR}/projects` }),
    work_dir: str({ help: "legacy inline compose files", default: `${DATA_DIR}/status/apps` }),
    metrics_interval_secs: num({
      help: "host metrics sampling interval",
      env: "METRICS_INTERVAL_SECS",
      default: 15,
      min: 0.05,
    }),
    disk_path: str({ help: "a path on the filesystem whose usage is reported", default: DATA_DIR }),
    proc_root: str({
      help: "parse /proc-format files here instead of the system APIs (e.g. a host /proc mount)",
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
        "a credential of its own, not the HMAC key (AGENT_TOKEN): a captured request " +
          "would let anyone forge signatures",
        "the HMAC key",
      );
    }
    if (c.dashboard_url && !c.deployment_hash) {
      throw new ConfigError(
        "deployment_hash",
        sources.get("deployment_hash") ?? { kind: "default" },
        "a deployment hash when DASHBOARD_URL is set",
        "nothing",
      );
    }
  },
});

/** The validated status config. */
export type StatusConfig = Infer<typeof statusSpec.spec.fields>;

/** True when this agent runs Docker commands itself. */
export function isLegacy(c: StatusConfig): boolean {
  return c.legacy || !c.compose_agent.enabled;
}
