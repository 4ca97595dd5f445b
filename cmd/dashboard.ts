/**
 * `iatp dashboard`: the governance console of the mesh. Thin: declares the config, builds the
 * login authenticator (protected mode included) and hands the rest to core/dashboard.
 * @module
 */
import { relayIdleField } from "../core/relay/client/settings/mod.ts";
import { meshAuthFields, meshAuthSettings } from "../core/auth/mesh/mod.ts";
import { resolveSecretSetting } from "../core/auth/settings/mod.ts";
import {
  bytes,
  defineConfig,
  duration,
  type Infer,
  int,
  list,
  MAX_AGE_MS,
  type SourceMap,
  str,
  url,
} from "../core/config/mod.ts";
import {
  DEFAULT_HISTORY,
  DEFAULT_HISTORY_BYTES,
  DEFAULT_LOGIN_RATE_PER_MIN,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_MAX_VIEWER_SESSIONS,
  DEFAULT_RESPONSE_BYTES,
  DEFAULT_SESSION_TTL_MS,
  DEFAULT_TOPICS,
  DEFAULT_VIEWER_CLASSES,
  MAX_WATCHED_SERVICES,
  parseServiceTargets,
  startDashboardServer,
} from "../core/dashboard/mod.ts";
import { ConfigError } from "../core/errors/mod.ts";
import { edgeOptions, type Service, serviceFields } from "../core/http/mod.ts";
import { parseVkey } from "../core/ledger/vkey/mod.ts";
import { createLogger, type Logger } from "../core/log/mod.ts";
import { isTopicPattern } from "../core/topic/mod.ts";
import { DEFAULT_OVERFLOW_WAIT_MS } from "../core/relay/stream/mod.ts";
import { serviceCommand } from "./shared.ts";
import { runAsEntry } from "./run.ts";

/** The dashboard's configuration. */
export const spec = defineConfig({
  command: "dashboard",
  summary: "Governance console of the mesh: overview, events, transactions, login by credential.",
  fields: {
    ...serviceFields(8004),
    ...meshAuthFields(),
    relay_url: url({
      help: "relay base URL the dashboard follows",
      default: "http://127.0.0.1:8005",
    }),
    relay_token: str({
      help: "credential for the relay (subscribe scopes), or file:PATH",
      secret: true,
      fileRef: true,
    }),
    relay_idle_timeout: relayIdleField(),
    audit_url: url({ help: "audit service base URL; /tx pages verify its receipts" }),
    audit_public_key: str({
      help: "audit checkpoint verifier key (C2SP vkey name+id+base64) to check signatures",
    }),
    audit_timeout: duration({ help: "timeout of one audit lookup", default: 5_000, min: 1 }),
    services: list({
      help: "services whose /health the overview polls, as name=URL (policy=http://host:8002)",
      default: [],
    }),
    health_interval: duration({
      help: "how often service health and the ledger checkpoint are checked",
      default: 5_000,
      min: 100,
    }),
    health_timeout: duration({ help: "timeout of one health check", default: 2_000, min: 1 }),
    topics: list({ help: "relay topic patterns followed", default: DEFAULT_TOPICS }),
    history: int({
      help: "recent events kept in memory (search, pages, transactions)",
      default: DEFAULT_HISTORY,
      min: 1,
      max: 100_000,
    }),
    history_bytes: bytes({
      help: "bytes of recent events kept in memory, as JSON (the oldest go first)",
      default: DEFAULT_HISTORY_BYTES,
      min: 64 * 1024,
    }),
    page_size: int({ help: "events shown per page", default: 50, min: 1, max: 200 }),
    response_bytes: bytes({
      help: "bytes of events one answer holds (events search, a transaction): past it fewer " +
        "events, with a cursor to the rest",
      default: DEFAULT_RESPONSE_BYTES,
      min: 64 * 1024,
    }),
    viewer_classes: int({
      help: "what-they-see summaries kept, one per set of subscribe scopes (viewers beyond " +
        "them are summarized again when they ask)",
      default: DEFAULT_VIEWER_CLASSES,
      min: 1,
      max: 10_000,
    }),
    stream_backlog: int({
      help: "recent events a new browser stream starts with",
      default: 200,
      min: 0,
      max: 10_000,
    }),
    overview_refresh: duration({
      help: "how often an open overview refreshes",
      default: 2_000,
      min: 500,
    }),
    queue_bytes: bytes({
      help: "bytes queued per browser before it is cut off (it then resumes)",
      default: 4 * 1024 * 1024,
      min: 64 * 1024,
    }),
    overflow_wait: duration({
      help: "time a browser stream cut off for its queue_bytes has for its socket to take the " +
        "write already in flight and the overflow event (what it held besides is dropped at " +
        "once) before its connection is closed",
      default: DEFAULT_OVERFLOW_WAIT_MS,
      min: 1,
      max: 600_000,
    }),
    max_clients: int({ help: "concurrent browser streams", default: 200, min: 1 }),
    max_viewer_streams: int({
      help: "concurrent browser streams of one logged-in viewer (its credential subject)",
      default: 10,
      min: 1,
    }),
    heartbeat: duration({
      help: "heartbeat interval of browser streams",
      default: 15_000,
      min: 100,
    }),
    retry: duration({ help: "reconnect delay hinted to browsers", default: 2_000 }),
    session_ttl: duration({
      help: "longest login session (never beyond the credential's expiry)",
      default: DEFAULT_SESSION_TTL_MS,
      min: 1_000,
      max: MAX_AGE_MS, // compared with the clock, not waited for
    }),
    max_sessions: int({
      help: "live login sessions kept",
      default: DEFAULT_MAX_SESSIONS,
      min: 1,
    }),
    max_viewer_sessions: int({
      help: "live login sessions of one viewer (credential subject); beyond it its oldest ends",
      default: DEFAULT_MAX_VIEWER_SESSIONS,
      min: 1,
    }),
    login_rate: int({
      help: "login attempts per minute per client address",
      default: DEFAULT_LOGIN_RATE_PER_MIN,
      min: 1,
    }),
  },
  deprecated: {
    flags: { relay_url: "relay", audit_url: "audit" },
    env: { relay_url: "IATP_DASHBOARD_RELAY", audit_url: "IATP_DASHBOARD_AUDIT" },
    keys: { relay_url: "relay", audit_url: "audit" },
  },
  check(config, sources) {
    const src = (key: string) => sources.get(key) ?? { kind: "default" as const };
    const bad = config.topics.find((t) => !isTopicPattern(t));
    if (bad !== undefined) {
      throw new ConfigError(
        "topics",
        src("topics"),
        "topic names or patterns ending in .*",
        JSON.stringify(bad),
      );
    }
    if (config.audit_public_key && !parseVkey(config.audit_public_key)) {
      throw new ConfigError(
        "audit_public_key",
        src("audit_public_key"),
        "a C2SP Ed25519 verifier key name+hexid+base64",
        "a malformed key",
      );
    }
    if (config.services.length > MAX_WATCHED_SERVICES) {
      throw new ConfigError(
        "services",
        src("services"),
        `at most ${MAX_WATCHED_SERVICES} services`,
        `${config.services.length}`,
      );
    }
    try {
      parseServiceTargets(config.services);
    } catch (err) {
      throw new ConfigError(
        "services",
        src("services"),
        "name=http(s)://host:port entries (policy=http://127.0.0.1:8002)",
        (err as Error).message,
      );
    }
  },
});

/** The validated dashboard config. */
export type DashboardConfig = Infer<typeof spec.spec.fields>;

/**
 * Starts the dashboard.
 * @throws {ConfigError} naming `auth_keys` in protected mode (beyond loopback, no keys, not
 * `insecure`), or naming a credential setting whose `file:PATH` cannot be read.
 */
export async function start(
  config: DashboardConfig,
  deps: { log?: Logger; sources?: SourceMap } = {},
): Promise<Service> {
  const log = deps.log ?? createLogger({ service: "dashboard", level: config.log_level });
  // Keys, revocation files and protected mode are checked now; the verifier is built from them
  // with the login gate, which loads with the first request the app serves.
  const auth = meshAuthSettings(config, {
    command: "dashboard",
    host: config.host,
    hostSource: deps.sources?.get("host"),
    log,
  });
  return await startDashboardServer({
    host: config.host,
    port: config.port,
    log,
    auth,
    insecure: config.insecure,
    relayUrl: config.relay_url,
    relayToken: resolveSecretSetting("relay_token", config.relay_token),
    relayIdleTimeoutMs: config.relay_idle_timeout,
    auditUrl: config.audit_url,
    auditKey: config.audit_public_key ? parseVkey(config.audit_public_key) : undefined,
    auditTimeoutMs: config.audit_timeout,
    services: parseServiceTargets(config.services),
    healthIntervalMs: config.health_interval,
    healthTimeoutMs: config.health_timeout,
    topics: config.topics,
    history: config.history,
    historyBytes: config.history_bytes,
    pageSize: config.page_size,
    responseBytes: config.response_bytes,
    viewerClasses: config.viewer_classes,
    streamBacklog: config.stream_backlog,
    overviewRefreshMs: config.overview_refresh,
    queueBytes: config.queue_bytes,
    overflowWaitMs: config.overflow_wait,
    maxClients: config.max_clients,
    maxViewerStreams: config.max_viewer_streams,
    heartbeatMs: config.heartbeat,
    retryMs: config.retry,
    sessionTtlMs: config.session_ttl,
    maxSessions: config.max_sessions,
    maxViewerSessions: config.max_viewer_sessions,
    loginRatePerMin: config.login_rate,
    edge: edgeOptions(config),
  });
}

/** The dashboard command. */
export const command = serviceCommand(spec, start);

// `deno run cmd/dashboard.ts ARGS` is `iatp dashboard ARGS` (cmd/run.ts: the launchers start it so).
if (import.meta.main) await runAsEntry("dashboard", command);
