/**
 * `iatp dashboard`: the live web UI of the mesh. Thin: declares the config and hands it to
 * core/dashboard.
 * @module
 */
import { serviceFields } from "../core/config/common.ts";
import {
  bytes,
  defineConfig,
  duration,
  type Infer,
  int,
  list,
  str,
  url,
} from "../core/config/mod.ts";
import { DEFAULT_HISTORY, DEFAULT_TOPICS } from "../core/dashboard/feed.ts";
import { startDashboardServer } from "../core/dashboard/server.tsx";
import { ConfigError } from "../core/errors/mod.ts";
import { edgeOptions, type Service } from "../core/http/mod.ts";
import { parseVkey } from "../core/ledger/note.ts";
import { createLogger, type Logger } from "../core/log/mod.ts";
import { isTopicPattern } from "../core/relay/topic.ts";
import { serviceCommand } from "./shared.ts";

/** The dashboard's configuration. */
export const spec = defineConfig({
  command: "dashboard",
  summary: "Live web dashboard of the mesh: GET / (live page), GET /events (SSE), GET /tx/{id}.",
  envPrefix: "IATP_DASHBOARD_",
  fields: {
    ...serviceFields(8004),
    relay: url({ help: "relay base URL the dashboard follows", default: "http://127.0.0.1:8005" }),
    relay_token: str({ help: "bearer token for the relay (subscribe scopes)", secret: true }),
    audit: url({ help: "audit service base URL; /tx pages verify its receipts" }),
    audit_public_key: str({
      help: "audit checkpoint verifier key (C2SP vkey name+id+base64) to check signatures",
    }),
    audit_timeout: duration({ help: "timeout of one audit lookup", default: 5_000, min: 1 }),
    topics: list({ help: "relay topic patterns followed", default: DEFAULT_TOPICS }),
    history: int({
      help: "recent events kept in memory",
      default: DEFAULT_HISTORY,
      min: 1,
      max: 100_000,
    }),
    max_cards: int({ help: "cards shown on the page", default: 300, min: 1, max: 10_000 }),
    queue_bytes: bytes({
      help: "bytes queued per browser before it is cut off (it then resumes)",
      default: 4 * 1024 * 1024,
      min: 64 * 1024,
    }),
    max_clients: int({ help: "concurrent browser streams", default: 200, min: 1 }),
    heartbeat: duration({
      help: "heartbeat interval of browser streams",
      default: 15_000,
      min: 100,
    }),
    retry: duration({ help: "reconnect delay hinted to browsers", default: 2_000 }),
  },
  check(config, sources) {
    const bad = config.topics.find((t) => !isTopicPattern(t));
    if (bad !== undefined) {
      throw new ConfigError(
        "topics",
        sources.get("topics") ?? { kind: "default" },
        "topic names or patterns ending in .*",
        JSON.stringify(bad),
      );
    }
    if (config.audit_public_key && !parseVkey(config.audit_public_key)) {
      throw new ConfigError(
        "audit_public_key",
        sources.get("audit_public_key") ?? { kind: "default" },
        "a C2SP Ed25519 verifier key name+hexid+base64",
        "a malformed key",
      );
    }
  },
});

/** The validated dashboard config. */
export type DashboardConfig = Infer<typeof spec.spec.fields>;

/** Starts the dashboard. */
export function start(config: DashboardConfig, deps: { log?: Logger } = {}): Promise<Service> {
  const log = deps.log ?? createLogger({ service: "dashboard", level: config.log_level });
  return startDashboardServer({
    host: config.host,
    port: config.port,
    log,
    relayUrl: config.relay,
    relayToken: config.relay_token,
    auditUrl: config.audit,
    auditPublicKey: config.audit_public_key
      ? parseVkey(config.audit_public_key)?.publicRaw
      : undefined,
    auditTimeoutMs: config.audit_timeout,
    topics: config.topics,
    history: config.history,
    maxCards: config.max_cards,
    queueBytes: config.queue_bytes,
    maxClients: config.max_clients,
    heartbeatMs: config.heartbeat,
    retryMs: config.retry,
    edge: edgeOptions(config),
  });
}

/** The dashboard command. */
export const command = serviceCommand(spec, start);
