/**
 * The Stavily agents' config vocabulary that iatp accepts without using: the keys of their
 * config struct iatp has no use for, and the keys their shipped YAML files carry that their own
 * loader ignores. Such keys are listed once in a start-up warning; anything else unknown is
 * still an error. Also the `{HOSTNAME}` / `{AGENT_ID}` placeholders those files use.
 * @module
 */
import { permittedEnv } from "../config/mod.ts";

/** Keys of both agents (struct keys iatp does not use, then keys the shipped files carry). */
const COMMON = [
  "agent.version",
  "agent.region",
  "agent.tags",
  "api.agents_endpoint",
  "api.max_idle_conns",
  "api.idle_conn_timeout",
  "api.headers",
  "security.tls.server_name",
  "security.tls.insecure_skip_verify",
  "security.auth.token_ttl",
  "security.sandbox.enabled",
  "security.sandbox.max_cpu",
  "security.sandbox.max_file_size",
  "security.audit.max_size",
  "security.audit.max_backups",
  "security.audit.max_age",
  "security.audit.compress",
  "logging.output",
  "logging.file",
  "logging.max_size",
  "logging.max_backups",
  "logging.max_age",
  "logging.compress",
  "metrics.namespace",
  "plugins.auto_load",
  "plugins.watch_changes",
  "plugins.update_check",
  "plugins.timeout",
  "plugins.max_concurrent",
  "plugins.registry.*",
  "health.enabled",
  "health.interval",
  "health.timeout",
  // Carried by the shipped files, ignored by the Stavily loader too.
  "agent.organization_id",
  "agent.base_dir",
  "agent.heartbeat_interval",
  "agent.registration_retry_interval",
  "api.retry.*",
  "api.auth.*",
  "api.rate_limit.*",
  "security.auth.type",
  "security.sandbox.user",
  "security.sandbox.chroot",
  "security.tls.cipher_suites",
  "security.audit.file",
  "plugins.max_memory",
  "plugins.allowed_plugins",
  "plugins.blocked_plugins",
  "plugins.dir",
  "plugins.config_dir",
  "plugins.auto_update",
  "plugins.update_interval",
  "health.bind",
  "metrics.bind",
];

/** The tolerated keys of each agent kind. */
export const STAVILY_TOLERATED: { sensor: string[]; action: string[] } = {
  sensor: [
    ...COMMON,
    "sensor.trigger_check_interval",
    "sensor.max_concurrent_triggers",
    "sensor.trigger_timeout",
    "sensor.event_buffer_size",
    "sensor.batch_size",
    "sensor.flush_interval",
  ],
  action: [
    ...COMMON,
    "action.poll_interval",
    "action.max_concurrent_actions",
    "action.action_timeout",
    "action.result_buffer_size",
    "action.work_dir",
    "action.max_output_size",
    "action.cleanup_interval",
  ],
};

/**
 * The machine's name: `HOSTNAME` when exported, else the system's (`Deno.hostname()`, which
 * needs `--allow-sys`), else `/etc/hostname`, which the agents' permission line lets them
 * read: a systemd unit, cron or `sudo` exports no `HOSTNAME`, and the agents have no `sys`.
 */
function hostname(): string | undefined {
  const fromEnv = permittedEnv("HOSTNAME");
  if (fromEnv) return fromEnv;
  try {
    return Deno.hostname();
  } catch { /* no sys permission: the name the system keeps in /etc */ }
  try {
    return Deno.readTextFileSync("/etc/hostname").trim().split(/\s/)[0] || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The placeholders of the Stavily files: `${HOSTNAME}` falls back to the machine's name (shells
 * rarely export it), and the single-brace `{HOSTNAME}` / `{AGENT_ID}` of their templates are
 * filled in too (`{AGENT_ID}` is the already expanded `agent.id`).
 */
export function agentPlaceholders(values: Record<string, unknown>) {
  const agent = values.agent as Record<string, unknown> | undefined;
  return {
    hint: "agents read IATP_*, STAVILY_* and HOSTNAME variables only",
    placeholders: {
      HOSTNAME: hostname,
      AGENT_ID: () => {
        const id = agent?.id;
        return typeof id === "string" && !id.includes("{") ? id : undefined;
      },
    },
  };
}
