/**
 * `iatp relay`: resumable SSE pub/sub for the agent mesh. Thin: declares the config, builds the
 * store and hands both to core/relay.
 * @module
 */
import { z } from "zod";
import { isMeshScope, meshAuthFields, meshAuthFor } from "../core/auth/mod.ts";
import { compatField } from "../core/compat/mod.ts";
import {
  bytes,
  custom,
  defineConfig,
  duration,
  type Infer,
  int,
  list,
  str,
} from "../core/config/mod.ts";
import { ConfigError, errorMessage } from "../core/errors/mod.ts";
import { edgeOptions, type Service, serviceFields } from "../core/http/mod.ts";
import { createLogger, type Logger, registerSecret } from "../core/log/mod.ts";
import {
  DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_EVENTS_PER_TOPIC,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_SUBSCRIBERS,
  DEFAULT_MAX_TOPICS,
  DEFAULT_QUEUE_BYTES,
  MemoryStore,
  type RelayStore,
  SqliteStore,
  startRelayServer,
  UPSTREAM_MAX_EVENTS_PER_TOPIC,
} from "../core/relay/mod.ts";
import { serviceCommand } from "./shared.ts";

const tokensSchema = z.record(
  z.string().min(8),
  z.array(z.string().refine(isMeshScope)),
);

/** The relay's configuration. */
export const spec = defineConfig({
  command: "relay",
  summary: "Resumable SSE pub/sub relay: POST /publish, GET /subscribe, GET /topics.",
  fields: {
    // Each subscriber holds a connection: room for all of them and for publishers.
    ...serviceFields(8005, { maxConnections: DEFAULT_MAX_SUBSCRIBERS + 4096 }),
    ...meshAuthFields(),
    store: str({
      help: "history store: memory, or sqlite:PATH to survive restarts",
      default: "memory",
      pattern: /^(memory|sqlite:.+)$/,
      expected: "memory, or sqlite:PATH",
      grants: (v) => v.startsWith("sqlite:") ? [{ path: v.slice(7), access: "write" }] : [],
    }),
    compat: compatField("IG&S relay"),
    retention_events: int({
      help: `events retained per topic (default ${UPSTREAM_MAX_EVENTS_PER_TOPIC} under compat ` +
        `upstream, ${DEFAULT_MAX_EVENTS_PER_TOPIC} under compat iatp)`,
      min: 1,
      max: 1_000_000,
    }),
    retention_age: duration({
      help: "events older than this are evicted (0 keeps them)",
      default: DEFAULT_MAX_AGE_MS,
    }),
    max_topics: int({ help: "distinct topics accepted", default: DEFAULT_MAX_TOPICS, min: 1 }),
    max_payload_bytes: bytes({
      help: "largest payload accepted (serialized JSON)",
      default: DEFAULT_MAX_PAYLOAD_BYTES,
      min: 2,
    }),
    queue_bytes: bytes({
      help: "bytes queued per subscriber before it is cut off with event: overflow",
      default: DEFAULT_QUEUE_BYTES,
      min: 1024,
    }),
    max_subscribers: int({
      help: "concurrent subscribers",
      default: DEFAULT_MAX_SUBSCRIBERS,
      min: 1,
    }),
    heartbeat: duration({ help: "interval of heartbeat comments", default: 15_000, min: 100 }),
    retry: duration({ help: "reconnect delay hinted to clients (retry:)", default: 2_000 }),
    expire_interval: duration({ help: "how often age retention runs", default: 10_000, min: 100 }),
    tokens: custom(tokensSchema, {
      help: 'static bearer tokens and their mesh scopes, e.g. {"TOKEN": ["publish:sensor.*"]}',
      expected: "a mapping of tokens (8+ chars) to lists of mesh scopes " +
        "(publish:<pattern>, subscribe:<pattern>, <service>:*, *)",
      default: {},
      jsonEnv: true,
      secret: true,
    }),
    cors_origins: list({ help: "origins allowed by CORS (* for any)", default: [] }),
  },
  check(config, sources) {
    // A live frame larger than the queue could never be delivered: every subscriber would
    // overflow on it forever.
    if (config.queue_bytes < 2 * config.max_payload_bytes) {
      throw new ConfigError(
        "queue_bytes",
        sources.get("queue_bytes") ?? { kind: "default" },
        `at least twice max_payload_bytes (${2 * config.max_payload_bytes})`,
        String(config.queue_bytes),
      );
    }
  },
});

/** The validated relay config. */
export type RelayConfig = Infer<typeof spec.spec.fields>;

/** Events kept per topic: the setting, else the default of the `compat` mode. */
function retentionEvents(config: RelayConfig): number {
  return config.retention_events ??
    (config.compat === "upstream" ? UPSTREAM_MAX_EVENTS_PER_TOPIC : DEFAULT_MAX_EVENTS_PER_TOPIC);
}

/** Opens the configured store. */
function openStore(config: RelayConfig): RelayStore {
  const retention = {
    maxEventsPerTopic: retentionEvents(config),
    maxAgeMs: config.retention_age,
    maxTopics: config.max_topics,
  };
  if (config.store === "memory") return new MemoryStore(retention);
  const path = config.store.slice("sqlite:".length);
  try {
    return new SqliteStore(path, retention);
  } catch (err) {
    throw new ConfigError(
      "store",
      { kind: "flag", name: "store" },
      "a writable SQLite file path",
      `${path} (${errorMessage(err)})`,
      { cause: err },
    );
  }
}

/**
 * Starts the relay.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials (protected mode), or naming `store` when the store cannot be opened.
 */
export function start(config: RelayConfig, deps: { log?: Logger } = {}): Promise<Service> {
  const log = deps.log ?? createLogger({ service: "relay", level: config.log_level });
  for (const token of Object.keys(config.tokens)) registerSecret(token);
  const auth = meshAuthFor(config, {
    command: "relay",
    host: config.host,
    log,
    staticTokens: config.tokens,
  });
  const store = openStore(config);
  log.info("relay store", {
    store: config.store === "memory" ? "memory" : "sqlite",
    epoch: store.epoch,
    compat: config.compat,
    retention_events: retentionEvents(config),
  });
  return startRelayServer({
    host: config.host,
    port: config.port,
    log,
    store,
    edge: edgeOptions(config),
    maxPayloadBytes: config.max_payload_bytes,
    queueBytes: config.queue_bytes,
    maxSubscribers: config.max_subscribers,
    heartbeatMs: config.heartbeat,
    retryMs: config.retry,
    expireIntervalMs: config.expire_interval,
    auth,
    corsOrigins: config.cors_origins,
    compat: config.compat,
  }).catch((err) => {
    store.close();
    throw err;
  });
}

/** The relay command. */
export const command = serviceCommand(spec, start);
