/**
 * Configuration of the automation agents: the Stavily schema (agent, api, security, logging,
 * metrics, plugins, health) plus iatp's relay section and one section per agent kind. Every key
 * of the Stavily agents' own vocabulary is accepted (those iatp does not use are listed in one
 * start-up warning, see stavily_keys.ts); `${VAR}` is expanded in string values (the Stavily
 * files' own way of taking values from the environment). Env vars follow the scheme,
 * `IATP_SENSOR_<SECTION>_<KEY>` and `IATP_ACTION_<SECTION>_<KEY>` (`IATP_SENSOR_AGENT_ID`), so a
 * sensor and an action agent on one host never read each other's settings.
 * @module
 */
import {
  bool,
  bytes,
  type Config,
  custom,
  defineConfig,
  duration,
  host,
  type Infer,
  int,
  list,
  MAX_AGE_MS,
  num,
  oneOf,
  parseDuration,
  path,
  type PathGrant,
  port,
  section,
  type SourceMap,
  str,
  url,
  type Validator,
} from "../config/mod.ts";
import { SUBJECT_PATTERN } from "../auth/settings/mod.ts";
import { edgeFields } from "../http/mod.ts";
import { ConfigError } from "../errors/mod.ts";
import { LEVELS } from "../log/mod.ts";
import { natsFields } from "../nats/settings/mod.ts";
import {
  relayFlushField,
  relayIdleField,
  relayTimeoutField,
} from "../relay/client/settings/mod.ts";
import { pluginTrustPolicy } from "./plugin_trust.ts";
import { queueFields } from "./queue_config.ts";
import { securityShape } from "./security_config.ts";
import { agentPlaceholders, STAVILY_TOLERATED } from "./stavily_keys.ts";

/** Agent ids: used in URL paths and relay topic names, so no slashes and no leading dot. */
export const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Plugin ids: folder names under config/plugins (no separators, no dots); as plugin.yaml ids. */
export const PLUGIN_ID = /^[a-z0-9][a-z0-9-]{1,63}$/;
/** Most trigger plugins one sensor runs. */
const MAX_TRIGGERS = 64;

/** Environments. As in the Stavily agents, only `prod` applies the production rules. */
const ENVIRONMENTS = ["dev", "test", "staging", "prod", "production"] as const;

/** True when the environment name applies the production rules (`prod` only, as upstream). */
function isProduction(env: string): boolean {
  return env === "prod";
}

/** The User-Agent the Stavily agents send (their orchestrator client hard-codes it). */
const STAVILY_USER_AGENT = "Stavily-Agent/1.0.0";

/** The `agent` section's fields of either agent. */
function agentShape(kind: "sensor" | "action") {
  return {
    id: str({ help: "agent id (URL paths, relay topics)", pattern: AGENT_ID }),
    name: str({ help: "display name", default: "" }),
    type: oneOf(["sensor", "action"], {
      help: "agent kind (must match the command)",
      default: kind,
    }),
    tenant_id: str({ help: "tenant (organisation) id", default: "" }),
    environment: oneOf(ENVIRONMENTS, { help: "deployment environment", default: "dev" }),
    heartbeat: duration({ help: "heartbeat interval", default: 30_000, min: 100 }),
    base_folder: path({
      help: "agent home; default $IATP_DATA_DIR/<kind> (or data/<kind>)",
      default: "",
      access: "write",
    }),
    poll_interval: duration({ help: "instruction poll interval", default: 30_000, min: 50 }),
    max_concurrent_tasks: int({
      help: "instructions run at once",
      default: 10,
      min: 1,
      max: 1000,
    }),
    max_queued_tasks: int({
      help: "instructions waiting to run",
      default: 100,
      min: 1,
      max: 100_000,
    }),
    task_timeout: duration({
      help: "longest an instruction may run",
      default: 300_000,
      min: 100,
    }),
    completed_history: int({
      help: "finished instruction ids remembered for idempotency",
      default: 10_000,
      min: 10,
      max: 10_000_000,
    }),
    state_busy_timeout: duration({
      help: "how long a write to the state database waits for another process holding it " +
        "(the agent waits with it; sensors sharing one base_folder take turns within it)",
      default: 5_000, // state.ts: DEFAULT_STATE_BUSY_TIMEOUT_MS
      min: 0,
      max: 60_000,
    }),
    shutdown_timeout: duration({
      help:
        "how long stop waits for running work (and again for instructions whose plugins it stopped)",
      default: 10_000,
    }),
  };
}

function agentSection(kind: "sensor" | "action") {
  return {
    agent: section(agentShape(kind)),
    api: section({
      base_url: url({ help: "orchestrator base URL (unset: no orchestrator)" }),
      timeout: duration({ help: "per-request timeout", default: 30_000, min: 10 }),
      retry_attempts: int({ help: "retries after the first try", default: 3, min: 0, max: 20 }),
      retry_delay: duration({ help: "first retry delay (doubles, jittered)", default: 1_000 }),
      retry_max_delay: duration({ help: "longest retry delay", default: 30_000 }),
      rate_limit_rps: num({
        help: "requests per second to the orchestrator",
        default: 10,
        min: 0.01,
      }),
      rate_limit_burst: int({ help: "token bucket size", default: 10, min: 1, max: 10_000 }),
      max_response_bytes: bytes({
        help: "largest orchestrator response body read (larger: the call fails, not retried)",
        default: 4 * 1024 ** 2,
        min: 1024,
        max: 1024 ** 3,
      }),
      user_agent: str({
        help: "User-Agent sent to the orchestrator",
        default: STAVILY_USER_AGENT,
        pattern: /^[\x21-\x7e][\x20-\x7e]{0,199}$/,
      }),
    }),
  };
}

/** A trigger's own `interval` as a duration string (as `30s`, `1.5m`, `500ms`). */
const TRIGGER_INTERVAL = /^\d+(\.\d+)?(ms|s|m|h)$/;
/** The shortest trigger interval, so a plugin is not run back to back. */
export const MIN_TRIGGER_INTERVAL_MS = 50;
/** The keys a trigger may have. */
const TRIGGER_KEYS = new Set(["plugin_id", "interval", "config"]);

/** One configured trigger plugin of a sensor. */
export interface TriggerSpec {
  plugin_id: string;
  /** Milliseconds (an integer, at least 50) or a duration string. */
  interval?: number | string;
  config: Record<string, unknown>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `raw` as a trigger (its `config` defaulting to `{}`), or undefined when it is not one. */
function asTrigger(raw: unknown): TriggerSpec | undefined {
  if (!isRecord(raw) || Object.keys(raw).some((k) => !TRIGGER_KEYS.has(k))) return undefined;
  const { plugin_id, interval, config } = raw;
  if (typeof plugin_id !== "string" || !PLUGIN_ID.test(plugin_id)) return undefined;
  const intervalOk = interval === undefined ||
    (typeof interval === "number" && Number.isInteger(interval) &&
      interval >= MIN_TRIGGER_INTERVAL_MS) ||
    (typeof interval === "string" && TRIGGER_INTERVAL.test(interval) &&
      (parseDuration(interval) ?? 0) >= MIN_TRIGGER_INTERVAL_MS);
  if (!intervalOk || (config !== undefined && !isRecord(config))) return undefined;
  const spec: TriggerSpec = { plugin_id, config: config ?? {} };
  if (interval !== undefined) spec.interval = interval;
  return spec;
}

/**
 * The sensor's trigger list: at most {@linkcode MAX_TRIGGERS}, each `{plugin_id, interval?,
 * config}` and nothing else. A plain check, not a zod schema (zod is about 8 MB of an idle
 * agent).
 */
const triggersValidator: Validator<TriggerSpec[]> = {
  safeParse(value) {
    if (!Array.isArray(value) || value.length > MAX_TRIGGERS) return { success: false };
    const out: TriggerSpec[] = [];
    for (const raw of value) {
      const spec = asTrigger(raw);
      if (!spec) return { success: false };
      out.push(spec);
    }
    return { success: true, data: out };
  },
};

function commonFields(kind: "sensor" | "action", healthPort: number) {
  const { agent, api } = agentSection(kind);
  return {
    agent,
    api,
    security: section(securityShape),
    logging: section({
      level: oneOf(LEVELS, {
        help: "lowest log level written",
        default: "info",
        flag: "log-level",
      }),
      format: oneOf(["json", "text"], {
        help: "log format: JSON lines (text is accepted and still logs JSON lines, with a warning)",
        default: "json",
      }),
    }),
    metrics: section({
      enabled: bool({ help: "serve Prometheus metrics", default: true }),
      port: port({ help: "separate metrics port (unset: served on the health port)" }),
      path: str({ help: "metrics path", default: "/metrics", pattern: /^\/[A-Za-z0-9._/-]*$/ }),
    }),
    plugins: section(pluginsShape()),
    health: section({
      host: host({ help: "health server bind address", default: "127.0.0.1" }),
      port: port({ help: "health server port (0 picks a free one)", default: healthPort }),
      path: str({ help: "health path", default: "/health", pattern: /^\/[A-Za-z0-9._/-]*$/ }),
      ...edgeFields(),
    }),
    relay: section(relayShape()),
  };
}

function relayShape() {
  return {
    url: url({ help: "iatp relay base URL (unset: no relay)" }),
    token: str({
      help: "relay credential (bearer token), or file:PATH",
      secret: true,
      fileRef: true,
    }),
    buffer_size: int({ help: "relay publish buffer", default: 1000, min: 1, max: 1_000_000 }),
    timeout: relayTimeoutField(),
    flush_timeout: relayFlushField(),
  };
}

function pluginsShape() {
  return {
    directory: path({
      help: "another plugins folder, searched after installed plugins and before the built-ins",
      default: "",
      access: "read",
    }),
    pool_size: int({ help: "warm plugin hosts per plugin", default: 1, min: 1, max: 32 }),
    max_runners: int({
      help: "plugin runners kept warm at once",
      default: 16,
      min: 1,
      max: 1024,
    }),
    install_max_bytes: bytes({
      help: "largest plugin folder install copies (a git clone may take twice this on disk)",
      default: 16 * 1024 ** 2,
    }),
  };
}

function sensorFields() {
  return {
    ...commonFields("sensor", 8086),
    sensor: section({
      triggers: custom(triggersValidator, {
        help:
          "trigger plugins: [{plugin_id, interval?, config}] (interval default: config.interval s)",
        default: [],
        expected: `a list (at most ${MAX_TRIGGERS}) of {plugin_id, interval (50ms or more, ` +
          "e.g. 30s), config}",
      }),
      publish_to: oneOf(["auto", "relay", "orchestrator", "both"], {
        help: "where events go (auto: the relay if relay.url is set, and the orchestrator if " +
          "api.base_url is set)",
        default: "auto",
      }),
      events_path: str({
        help: "orchestrator path events are POSTed to (iatp extension)",
        default: "/agents/v1/{agent_id}/triggers",
        pattern: /^\/[A-Za-z0-9._/{}-]*$/,
      }),
      dedup_window: duration({
        help: "same type+source within this is dropped",
        default: 300_000,
        max: MAX_AGE_MS, // compared with the clock, not waited for
      }),
      dedup_max_entries: int({
        help: "dedup keys remembered",
        default: 10_000,
        min: 1,
        max: 10_000_000,
      }),
      restart_max_delay: duration({
        help: "longest backoff before a failed plugin runs again",
        default: 300_000,
      }),
    }),
  };
}

function actionFields() {
  return {
    ...commonFields("action", 8087),
    agent: section({
      ...agentShape("action"),
      report_flush_timeout: duration({
        help: "how long stop waits for a last delivery of results the orchestrator has not " +
          "acknowledged (the rest stay in the agent's state and are delivered after the next start)",
        default: 5_000,
        min: 0,
      }),
    }),
    // Who may give this agent orders: relay task publishers, and where plugins may come from.
    relay: section({
      ...relayShape(),
      task_publishers: list({
        help: "publishers (credential subjects) whose relay tasks are obeyed; empty: any " +
          "publisher the relay authenticated for action.tasks.<agent_id>",
        default: [],
        item: SUBJECT_PATTERN,
      }),
      idle_timeout: relayIdleField(),
      accept_anonymous_tasks: bool({
        help: "obey relay tasks with no authenticated publisher (development only; warns)",
        default: false,
      }),
      ...queueFields(),
    }),
    nats: section(natsFields()),
    plugins: section({
      ...pluginsShape(),
      trusted_keys: list({
        help: "public keys (iatp-ed25519:..., or file:PATH) whose plugin signatures are " +
          "accepted by plugin_install / plugin_update",
        default: [],
        fileRef: true,
      }),
      allowed_sources: list({
        help: "plugin sources installed without a signature: exact local folders, or URL " +
          "prefixes ending at a path boundary",
        default: [],
        grants: (v) =>
          v.filter((s) => !/^[a-z]+:\/\//i.test(s)).map((path) => ({ path, access: "read" })),
      }),
    }),
    action: section({
      task_source: oneOf(["auto", "orchestrator", "relay", "both"], {
        help: "where instructions come from (auto: orchestrator if set, and relay if set)",
        default: "auto",
      }),
      max_log_lines: int({
        help: "execution log lines kept per instruction",
        default: 500,
        min: 10,
        max: 100_000,
      }),
      max_result_bytes: bytes({
        help: "largest result kept for re-reporting",
        default: 256 * 1024,
        min: 1024,
      }),
    }),
  };
}

/** The sensor config shape. */
export type SensorShape = ReturnType<typeof sensorFields>;
/** The action config shape. */
export type ActionShape = ReturnType<typeof actionFields>;
/** A validated sensor config. */
export type SensorConfig = Infer<SensorShape>;
/** A validated action config. */
export type ActionConfig = Infer<ActionShape>;
/** What both agents' configs share. */
export type AgentConfig = Infer<ReturnType<typeof commonFields>>;

function fail(sources: SourceMap, key: string, expected: string, found: string): never {
  throw new ConfigError(key, sources.get(key) ?? { kind: "default" }, expected, found);
}

/** Cross-field rules both agents share; `warn` collects start-up warnings. */
function checkAgentConfig(
  kind: "sensor" | "action",
  c: AgentConfig,
  s: SourceMap,
  warn: (message: string) => void = () => {},
): void {
  if (!c.agent.id) fail(s, "agent.id", `an agent id matching ${AGENT_ID}`, "nothing");
  if (c.agent.type !== kind) {
    fail(s, "agent.type", `"${kind}" for iatp ${kind}`, `"${c.agent.type}"`);
  }
  const tls = c.security.tls;
  if (Boolean(tls.cert_file) !== Boolean(tls.key_file)) {
    const key = tls.cert_file ? "security.tls.key_file" : "security.tls.cert_file";
    fail(s, key, "both cert_file and key_file for mTLS, or neither", "only one of them");
  }
  if (c.api.base_url && !c.security.auth.api_key && !c.security.auth.token_file) {
    fail(s, "security.auth.api_key", "api_key or token_file when api.base_url is set", "neither");
  }
  if (c.logging.format === "text") warn("logging.format text: iatp writes JSON lines");
  if (c.agent.environment === "production") {
    warn("agent.environment production: only prod applies the production rules (as upstream)");
  }
  if (isProduction(c.agent.environment)) {
    if (c.security.tls.enabled === false) {
      fail(s, "security.tls.enabled", "true when agent.environment is prod", "false");
    }
    if (c.logging.level === "debug") {
      fail(s, "logging.level", "info or above when agent.environment is prod", "debug");
    }
    if (c.api.base_url && !c.api.base_url.startsWith("https:")) {
      fail(s, "api.base_url", "an https URL (TLS) when agent.environment is prod", c.api.base_url);
    }
    if (c.relay.url && !c.relay.url.startsWith("https:")) {
      fail(s, "relay.url", "an https URL (TLS) when agent.environment is prod", c.relay.url);
    }
    if (!c.security.audit.enabled) {
      fail(s, "security.audit.enabled", "true when agent.environment is prod", "false");
    }
  }
}

/** The audit trail file, its lock file and its rotations: written, renamed, read back. */
function auditTrailGrants(c: AgentConfig): PathGrant[] {
  const file = c.security.audit.log_file;
  if (!file) return [];
  const files = [file, `${file}.lock`];
  for (let i = 1; i <= c.security.audit.max_files; i++) files.push(`${file}.${i}`);
  return files.map((p) => ({ path: p, access: "write" }));
}

/** Names both agents used before the scheme, kept one release. */
const DEPRECATED = {
  flags: {
    "logging.level": "logging-level",
    "security.audit.service_url": "security-audit-service-url",
    "security.audit.token": "security-audit-token",
  },
};

/** The audit service's credential is read only when the trail is copied to the service. */
/** The `file:PATH` credentials a start does not read: the audit token and API key it would not use. */
function unreadSecrets(c: AgentConfig): string[] {
  return [
    ...(c.security.audit.enabled && c.security.audit.service_url ? [] : ["security.audit.token"]),
    ...(c.api.base_url && !c.security.auth.token_file ? [] : ["security.auth.api_key"]),
  ];
}

/** `iatp sensor` config. */
export const sensorConfig: Config<SensorShape> = defineConfig({
  command: "sensor",
  summary: "Sensor agent: runs sandboxed trigger plugins on their intervals, de-duplicates their " +
    "events and publishes them to the relay (sensor.<type>) and/or the orchestrator.",
  fields: sensorFields(),
  deprecated: DEPRECATED,
  grants: auditTrailGrants,
  tolerated: STAVILY_TOLERATED.sensor,
  expand: agentPlaceholders,
  unreadFileRefs: unreadSecrets,
  check: (c, s, warn) => {
    checkAgentConfig("sensor", c, s, warn);
    if (c.sensor.publish_to === "auto") {
      c.sensor.publish_to = c.relay.url && c.api.base_url
        ? "both"
        : c.api.base_url
        ? "orchestrator"
        : "relay";
    }
    const wantsRelay = c.sensor.publish_to !== "orchestrator";
    const wantsOrch = c.sensor.publish_to !== "relay";
    if (wantsRelay && !c.relay.url) {
      fail(
        s,
        "relay.url",
        `a relay URL when sensor.publish_to is ${c.sensor.publish_to}`,
        "nothing",
      );
    }
    if (wantsOrch && !c.api.base_url) {
      fail(
        s,
        "api.base_url",
        `an orchestrator URL when sensor.publish_to is ${c.sensor.publish_to}`,
        "nothing",
      );
    }
  },
});

/** `iatp action` config. */
export const actionConfig: Config<ActionShape> = defineConfig({
  command: "action",
  summary: "Action agent: takes instructions from the orchestrator (poll) or the relay " +
    "(action.tasks.<agent_id>), runs them with sandboxed action plugins and reports results.",
  fields: actionFields(),
  deprecated: DEPRECATED,
  grants: auditTrailGrants,
  tolerated: STAVILY_TOLERATED.action,
  expand: agentPlaceholders,
  // The NATS credentials are read only for the JetStream task queue.
  unreadFileRefs: (c) => [
    ...unreadSecrets(c),
    ...(c.relay.queue !== undefined && c.action.task_source !== "orchestrator"
      ? []
      : ["nats.password", "nats.token"]),
  ],
  check: (c, s, warn) => {
    checkAgentConfig("action", c, s, warn);
    const src = c.action.task_source;
    if ((src === "orchestrator" || src === "both") && !c.api.base_url) {
      fail(s, "api.base_url", `an orchestrator URL when action.task_source is ${src}`, "nothing");
    }
    if ((src === "relay" || src === "both") && !c.relay.url) {
      fail(s, "relay.url", `a relay URL when action.task_source is ${src}`, "nothing");
    }
    if (src === "auto" && !c.api.base_url && !c.relay.url) {
      fail(
        s,
        "api.base_url",
        "an orchestrator URL or relay.url (somewhere to get work)",
        "neither",
      );
    }
    if (c.relay.accept_anonymous_tasks && isProduction(c.agent.environment)) {
      fail(s, "relay.accept_anonymous_tasks", "false when agent.environment is prod", "true");
    }
    pluginTrustPolicy(c.plugins, {
      keys: s.get("plugins.trusted_keys"),
      allowed: s.get("plugins.allowed_sources"),
    });
  },
});
