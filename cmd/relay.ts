/**
 * `iatp relay`: resumable SSE pub/sub for the agent mesh. Thin: declares the config, builds the
 * store and hands both to core/relay.
 * @module
 */
import { isMeshScope, meshAuthFields, meshAuthFor } from "../core/auth/mod.ts";
import { compatField } from "../core/compat/mod.ts";
import {
  bytes,
  check,
  custom,
  defineConfig,
  duration,
  type Infer,
  int,
  list,
  MAX_AGE_MS,
  section,
  type SourceMap,
  str,
  textLength,
} from "../core/config/mod.ts";
import {
  ConfigError,
  type ConfigSource,
  errorMessage,
  FileInUseError,
  NewerSchemaError,
} from "../core/errors/mod.ts";
import { edgeOptions, type Service, serviceFields } from "../core/http/mod.ts";
import { createLogger, type Logger, registerSecret } from "../core/log/mod.ts";
import { natsFields } from "../core/nats/mod.ts";
import {
  type AnyRelayStore,
  DEFAULT_BACKLOG_BYTES,
  DEFAULT_CACHE_EVENTS,
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_EVENTS_PER_TOPIC,
  DEFAULT_MAX_IDEMPOTENCY_KEYS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_PENDING_PUBLISHES,
  DEFAULT_MAX_SUBSCRIBERS,
  DEFAULT_MAX_SUBSCRIBERS_PER_PRINCIPAL,
  DEFAULT_MAX_TOPICS,
  DEFAULT_MAX_TOPICS_PER_PRINCIPAL,
  DEFAULT_OVERFLOW_WAIT_MS,
  DEFAULT_QUEUE_BYTES,
  DEFAULT_QUEUE_BYTES_TOTAL,
  DEFAULT_RESUME_WAIT_MS,
  DEFAULT_ROUND_MAX_WAIT_MS,
  DEFAULT_ROUND_MIN_INTERVAL_MS,
  DEFAULT_ROUND_QUIET_MS,
  DEFAULT_STREAM,
  MAX_RELAY_HEARTBEAT_MS,
  MemoryStore,
  openJetStreamStore,
  openSqliteStore,
  type RelayServerOptions,
  type Retention,
  startRelayCluster,
  startRelayServer,
  UPSTREAM_MAX_EVENTS_PER_TOPIC,
} from "../core/relay/mod.ts";
import { workerCount, workersFieldFixed } from "../core/cluster/mod.ts";
import { connectEngine } from "./engine.ts";
import { serviceCommand } from "./shared.ts";
import { runAsEntry } from "./run.ts";

/** A plain mapping: YAML 1.1 tags can also make a Set, a Map or a Date (objects with no entries). */
function isMapping(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object") return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Static tokens: a mapping of tokens (8+ characters) to lists of mesh scopes. */
const tokensSchema = check((v): v is Record<string, string[]> =>
  isMapping(v) &&
  Object.entries(v).every(([token, scopes]) =>
    textLength(token) >= 8 && Array.isArray(scopes) &&
    scopes.every((s) => typeof s === "string" && isMeshScope(s))
  )
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
      help: "history store: memory, sqlite:PATH to survive restarts, or " +
        "nats://HOST:4222[,HOST2:4222...] to share one JetStream stream between replicas",
      default: "memory",
      pattern: /^(memory|sqlite:.+|(nats|tls):\/\/.+)$/,
      expected: "memory, sqlite:PATH, or nats://HOST[:PORT][,HOST2[:PORT]...]",
      grants: (v) => v.startsWith("sqlite:") ? [{ path: v.slice(7), access: "write" }] : [],
    }),
    nats: section(natsFields()),
    stream: str({
      help: "JetStream stream of a nats store (created when missing)",
      default: DEFAULT_STREAM,
      pattern: /^[A-Za-z0-9_-]{1,64}$/,
    }),
    stream_subjects: str({
      help: "subject prefix of a nats store's stream (events of topic T are PREFIX.T)",
      default: "relay",
      pattern: /^[A-Za-z0-9_-]{1,32}(\.[A-Za-z0-9_-]{1,32}){0,3}$/,
    }),
    stream_replicas: int({
      help: "copies of a nats store's stream in the NATS cluster",
      default: 1,
      min: 1,
      max: 5,
    }),
    cache_events: int({
      help: "events whose data a nats-store replica, or a worker isolate, keeps in memory for " +
        "replays (older ones are read from the stream or the main isolate)",
      default: DEFAULT_CACHE_EVENTS,
      min: 0,
    }),
    max_pending_publishes: int({
      help: "publishes waiting for the engine's acknowledgement at once (503 above)",
      default: DEFAULT_MAX_PENDING_PUBLISHES,
      min: 1,
    }),
    duplicate_window: duration({
      help: "window in which a publish retried with the same Idempotency-Key is answered as " +
        "the first was and not stored again (on every store), and in which a nats store's " +
        "engine drops a publish retried with the same event id",
      default: DEFAULT_DUPLICATE_WINDOW_MS,
      min: 1_000,
      max: MAX_AGE_MS, // JetStream keeps it, not a timer
    }),
    max_idempotency_keys: int({
      help: "publishes with an Idempotency-Key remembered (for duplicate_window) to answer " +
        "their retries; past it the oldest is forgotten (0 remembers none: only a nats " +
        "store's engine then drops a retry)",
      default: DEFAULT_MAX_IDEMPOTENCY_KEYS,
      min: 0,
    }),
    resume_wait: duration({
      help: "how long a resume from a position this replica has not read yet waits for it " +
        "(503 with Retry-After after), and GET /topics for the events stored when it was asked",
      default: DEFAULT_RESUME_WAIT_MS,
      min: 0,
    }),
    catchup_timeout: duration({
      help: "time a nats-store replica may take to read the stream's history at start",
      default: 120_000,
      min: 1_000,
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
      max: MAX_AGE_MS, // compared with event times, not waited for
    }),
    max_topics: int({ help: "distinct topics accepted", default: DEFAULT_MAX_TOPICS, min: 1 }),
    max_topics_per_principal: int({
      help: "distinct topics one authenticated publisher (credential subject or static token) " +
        "may create (403 beyond); publishing to existing topics is never refused by it, and an " +
        "open relay's anonymous publishes are bounded by max_topics alone",
      default: DEFAULT_MAX_TOPICS_PER_PRINCIPAL,
      min: 1,
    }),
    max_payload_bytes: bytes({
      help: "largest payload accepted (serialized JSON); with a nats store at most the " +
        "server's max_payload less 1024 bytes for headers (checked at start, exit 2 above)",
      default: DEFAULT_MAX_PAYLOAD_BYTES,
      min: 2,
    }),
    queue_bytes: bytes({
      help: "bytes queued per subscriber before it is cut off with event: overflow",
      default: DEFAULT_QUEUE_BYTES,
      min: 1024,
    }),
    queue_bytes_total: bytes({
      help: "bytes queued for all subscribers together (per isolate with --workers): past it " +
        "the subscribers holding the most unsent bytes are cut off with event: overflow " +
        "(must be ≥ queue_bytes)",
      default: DEFAULT_QUEUE_BYTES_TOTAL,
      min: 1024,
    }),
    overflow_wait: duration({
      help: "time a subscriber cut off with event: overflow has for its socket to take the " +
        "write already in flight and the overflow event (what it held besides is dropped at " +
        "once) before its connection is closed",
      default: DEFAULT_OVERFLOW_WAIT_MS,
      min: 1,
      max: 600_000,
    }),
    backlog_bytes: bytes({
      help: "bytes of events an isolate holds for its subscribers while it catches up, and " +
        "(--workers) bytes a worker isolate has not taken yet: past that, publishes answer 503",
      default: DEFAULT_BACKLOG_BYTES,
      min: 1024,
    }),
    max_subscribers: int({
      help: "concurrent subscribers",
      default: DEFAULT_MAX_SUBSCRIBERS,
      min: 1,
    }),
    max_subscribers_per_principal: int({
      help: "concurrent subscriptions one authenticated subscriber (credential subject or " +
        "static token) may hold open, per isolate with --workers (429 beyond); an open " +
        "relay's anonymous subscribers are bounded by max_subscribers alone",
      default: DEFAULT_MAX_SUBSCRIBERS_PER_PRINCIPAL,
      min: 1,
    }),
    heartbeat: duration({
      help: "interval of heartbeat comments (iatp's clients make a subscription again after " +
        "relay_idle_timeout without a byte, a minute by default)",
      default: 15_000,
      min: 100,
      max: MAX_RELAY_HEARTBEAT_MS,
    }),
    flush_quiet: duration({
      help:
        "a flush round whose last few socket writes (a tenth of them at most, or 64) made no progress for this long is not waited for",
      default: DEFAULT_ROUND_QUIET_MS,
      min: 1,
      max: 60_000,
    }),
    flush_min_interval: duration({
      help: "shortest time between the starts of two flush rounds (busy rounds carry more " +
        "events); with --workers N, each isolate's rounds are N times this apart",
      default: DEFAULT_ROUND_MIN_INTERVAL_MS,
      max: 1_000,
    }),
    flush_max_wait: duration({
      help: "longest wait for a flush round's socket writes before the next round",
      default: DEFAULT_ROUND_MAX_WAIT_MS,
      min: 1,
      max: 60_000,
    }),
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
    cors_origins: list({
      help: "origins allowed by CORS and to publish from a browser page (* for any)",
      default: [],
    }),
    // One isolate unless set: every publish another isolate takes crosses to the sequencer and
    // back (see docs/relay.md, "All cores").
    workers: workersFieldFixed(
      "the relay",
      1,
      "more isolates hand every publish they take to the first",
    ),
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
    // Below one queue, one subscriber's full queue would be cut off as the total's.
    if (config.queue_bytes_total < config.queue_bytes) {
      throw new ConfigError(
        "queue_bytes_total",
        sources.get("queue_bytes_total") ?? { kind: "default" },
        `at least queue_bytes (${config.queue_bytes})`,
        String(config.queue_bytes_total),
      );
    }
    // Below one queue, a burst every subscriber could take would end their streams.
    if (config.backlog_bytes < config.queue_bytes) {
      throw new ConfigError(
        "backlog_bytes",
        sources.get("backlog_bytes") ?? { kind: "default" },
        `at least queue_bytes (${config.queue_bytes})`,
        String(config.backlog_bytes),
      );
    }
  },
  // The NATS credentials are read only for a JetStream store.
  unreadFileRefs: (c) => /^(nats|tls):/.test(c.store) ? [] : ["nats.password", "nats.token"],
});

/** The validated relay config. */
export type RelayConfig = Infer<typeof spec.spec.fields>;

/** Events kept per topic: the setting, else the default of the `compat` mode. */
function retentionEvents(config: RelayConfig): number {
  return config.retention_events ??
    (config.compat === "upstream" ? UPSTREAM_MAX_EVENTS_PER_TOPIC : DEFAULT_MAX_EVENTS_PER_TOPIC);
}

/** The store's retention bounds. */
function retentionOf(config: RelayConfig): Retention {
  return {
    maxEventsPerTopic: retentionEvents(config),
    maxAgeMs: config.retention_age,
    maxTopics: config.max_topics,
    maxTopicsPerPrincipal: config.max_topics_per_principal,
  };
}

/** Opens the configured store. */
async function openStore(config: RelayConfig, log: Logger): Promise<AnyRelayStore> {
  const retention = retentionOf(config);
  if (config.store === "memory") return new MemoryStore(retention);
  if (/^(nats|tls):/.test(config.store)) {
    const engine = await connectEngine("store", config.store, config.nats, "iatp-relay", log);
    try {
      return await openJetStreamStore({
        engine,
        log,
        stream: config.stream,
        prefix: config.stream_subjects,
        replicas: config.stream_replicas,
        retention,
        maxPayloadBytes: config.max_payload_bytes,
        duplicateWindowMs: config.duplicate_window,
        cacheEvents: config.cache_events,
        maxPendingPublishes: config.max_pending_publishes,
        publishTimeoutMs: config.nats.timeout,
        catchupTimeoutMs: config.catchup_timeout,
      });
    } catch (err) {
      await engine.close();
      if (err instanceof ConfigError) throw err; // a stream that is not the relay's
      throw new ConfigError(
        "store",
        { kind: "default" }, // the start-up report puts in the setting's true source
        "a NATS JetStream server where the relay stream can be opened",
        errorMessage(err),
        { cause: err },
      );
    }
  }
  const path = config.store.slice("sqlite:".length);
  try {
    return await openSqliteStore(path, retention);
  } catch (err) {
    // Named with its setting's source at start (as is a file a newer release wrote).
    if (err instanceof FileInUseError || err instanceof NewerSchemaError) throw err;
    throw new ConfigError(
      "store",
      { kind: "default" }, // the start-up report puts in the setting's true source
      "a writable SQLite file path",
      `${path} (${errorMessage(err)})`,
      { cause: err },
    );
  }
}

/**
 * The relay server's options from its configuration, all but the store: shared by the main
 * isolate and every worker isolate (`--workers`), which each build their own.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials (protected mode)
 */
export function relayOptions(
  config: RelayConfig,
  log: Logger,
  hostSource?: ConfigSource,
): Omit<RelayServerOptions, "store"> {
  for (const token of Object.keys(config.tokens)) registerSecret(token);
  const auth = meshAuthFor(config, {
    command: "relay",
    host: config.host,
    hostSource,
    log,
    staticTokens: config.tokens,
  });
  return {
    host: config.host,
    port: config.port,
    log,
    edge: edgeOptions(config),
    maxPayloadBytes: config.max_payload_bytes,
    queueBytes: config.queue_bytes,
    queueBytesTotal: config.queue_bytes_total,
    overflowWaitMs: config.overflow_wait,
    backlogBytes: config.backlog_bytes,
    maxSubscribers: config.max_subscribers,
    maxSubscribersPerPrincipal: config.max_subscribers_per_principal,
    heartbeatMs: config.heartbeat,
    flush: {
      quietMs: config.flush_quiet,
      maxWaitMs: config.flush_max_wait,
      // Each of N isolates holds about 1/N of the subscribers, so its rounds' writes are done
      // N times as soon: at the same interval the host would run N times the rounds, each with
      // fewer events per write (see docs/relay.md, "All cores").
      minIntervalMs: config.flush_min_interval * workerCount(config.workers),
    },
    retryMs: config.retry,
    expireIntervalMs: config.expire_interval,
    resumeWaitMs: config.resume_wait,
    auth,
    insecure: config.insecure,
    corsOrigins: config.cors_origins,
    compat: config.compat,
    maxIdempotencyKeys: config.max_idempotency_keys,
    duplicateWindowMs: config.duplicate_window,
  };
}

/**
 * Starts the relay: on one isolate, or with `workers` above 1 on that many isolates of this
 * process sharing the port, the first one the sequencer owning the store.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials (protected mode), or naming `store` when the store cannot be opened.
 */
export async function start(
  config: RelayConfig,
  deps: { log?: Logger; sources?: SourceMap } = {},
): Promise<Service> {
  const log = deps.log ?? createLogger({ service: "relay", level: config.log_level });
  const options = relayOptions(config, log, deps.sources?.get("host"));
  const store = await openStore(config, log);
  log.info("relay store", {
    store: config.store.slice(0, config.store.search(/:|$/)),
    epoch: store.epoch,
    compat: config.compat,
    retention_events: retentionEvents(config),
  });
  const workers = workerCount(config.workers);
  const started = workers === 1
    ? startRelayServer({ ...options, store })
    : startRelayCluster({ ...options, store }, {
      workers: workers - 1,
      module: new URL("./relay/worker.ts", import.meta.url),
      workerInit: (port, index) => ({ config: { ...config, port }, index }),
      retention: retentionOf(config),
      cacheEvents: config.cache_events,
    });
  return await started.catch(async (err) => {
    await store.close();
    throw err;
  });
}

/** The relay command. */
export const command = serviceCommand(spec, start);

// `deno run cmd/relay.ts ARGS` is `iatp relay ARGS` (cmd/run.ts: the launchers start it so).
if (import.meta.main) await runAsEntry("relay", command);
