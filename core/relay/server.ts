/**
 * The relay's HTTP surface: `POST /publish`, `GET /subscribe` (SSE), `GET /topics`, on the
 * shared server factory (health, metrics, error envelope, drain).
 * @module
 */
import { every } from "../async/mod.ts";
import { createMeshAuth, type MeshAuth, type Principal } from "../auth/mod.ts";
import type { CompatMode } from "../compat/mod.ts";
import { Counter, Gauge, type Registry } from "../metrics/mod.ts";
import {
  createServer,
  type EdgeOptions,
  encodeComment,
  type ServerOptions,
  type Service,
  shareChunk,
} from "../http/mod.ts";
import { LogEvery, type Logger } from "../log/mod.ts";
import { relayHealth, storeHealth } from "./health.ts";
import { Hub } from "./hub.ts";
import {
  FlushRounds,
  type FlushRoundsOptions,
  HeldBytes,
  ReplayTurns,
  type SseSubscriber,
} from "./stream/mod.ts";
import { storeEvent } from "./publish.ts";
import {
  DEFAULT_MAX_IDEMPOTENCY_KEYS,
  IdempotencyKeys,
  publishDigest,
  type Stored,
} from "./idempotency.ts";
import { DEFAULT_DUPLICATE_WINDOW_MS } from "./js_defaults.ts";
import { relayRawRoutes } from "./raw_routes.ts";
import { allowedOrigin, CORS_SETTINGS } from "./cors.ts";
import { registerPublish, registerSubscribe, registerTopics, type RelayContext } from "./routes.ts";
import { type AnyRelayStore, isRemoteStore, type StoredEvent } from "./store.ts";
import { messageFrame, ReplayChunks } from "./replay.ts";
import { StreamRefusals, TopicRefusals } from "./refusals.ts";

/** Default largest accepted payload (serialized JSON). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;
/** Default bytes all of an isolate's subscribers hold together before the most are cut off. */
export const DEFAULT_QUEUE_BYTES_TOTAL = 256 * 1024 * 1024;
/** Default bound on concurrent subscribers. */
export const DEFAULT_MAX_SUBSCRIBERS = 20_000;
/** Default `max_subscribers_per_principal`: subscriptions one credential may hold open. */
export const DEFAULT_MAX_SUBSCRIBERS_PER_PRINCIPAL = 1_000;
/**
 * Longest heartbeat interval: half of the minute of silence after which iatp's clients make a
 * subscription again, so one late heartbeat never costs a reconnect.
 */
export const MAX_RELAY_HEARTBEAT_MS = 30_000;
/** Default wait of a resume ahead of the tail of a remote store. */
export const DEFAULT_RESUME_WAIT_MS = 5_000;
/** Default bound on `topic` parameters per subscription. */
export const DEFAULT_MAX_TOPICS_PER_SUBSCRIPTION = 64;

/**
 * What `event: overflow` says to the subscribers of a topic whose events left the engine before
 * this replica read them (see `RemoteRelayStore.onEvent`).
 */
const UNREAD_REASON = "events left the stream before this relay read them";

/** Everything the relay server needs. */
export interface RelayServerOptions {
  host: string;
  port: number;
  log: Logger;
  /** The log: memory or SQLite on this machine, or a shared engine (NATS JetStream). */
  store: AnyRelayStore;
  /** The HTTP edge's bounds (body limit, timeouts, connection cap, TLS, drain deadline). */
  edge?: EdgeOptions;
  maxPayloadBytes?: number;
  queueBytes?: number;
  /**
   * Bytes all of an isolate's subscribers hold together (`queue_bytes_total`) before those
   * holding the most are cut off with overflow.
   */
  queueBytesTotal?: number;
  /**
   * Once a subscriber is cut off with overflow, how long its socket has to take the write in
   * flight and the overflow event before the connection is closed (`overflow_wait`).
   */
  overflowWaitMs?: number;
  /** Bytes of replayed frames the isolate produces per turn of its event loop. */
  replayTurnBytes?: number;
  /** Bytes of events held while subscribers catch up on a burst (see hub.ts). */
  backlogBytes?: number;
  maxSubscribers?: number;
  /** Subscriptions one authenticated principal may hold open on one isolate. */
  maxSubscribersPerPrincipal?: number;
  maxTopicsPerSubscription?: number;
  heartbeatMs: number;
  /** How long flush rounds wait for their writes (see rounds.ts). */
  flush?: FlushRoundsOptions;
  retryMs: number;
  /** How often age retention runs. */
  expireIntervalMs: number;
  replayBatch?: number;
  /**
   * How long a resume from a position this replica's tail has not reached yet waits for it
   * (remote stores only; 503 with Retry-After after that).
   */
  resumeWaitMs?: number;
  /** Who may publish and subscribe (mesh credentials, static tokens); default open. */
  auth?: MeshAuth;
  /**
   * Started with `--insecure`: with no credentials it serves requests naming any host, on
   * loopback too (without, an open relay on loopback serves only loopback names).
   */
  insecure?: boolean;
  /** Allowed CORS origins (`*` for any); empty means no CORS headers. */
  corsOrigins?: string[];
  /** `upstream` (default): the IG&S relay's status codes; `iatp`: 201 and 400. */
  compat?: CompatMode;
  /** Keyed publishes remembered to answer their retries (`max_idempotency_keys`). */
  maxIdempotencyKeys?: number;
  /** How long a keyed publish is remembered (`duplicate_window`). */
  duplicateWindowMs?: number;
  /** With `--workers`: this isolate is one of several on the port (see cluster.ts). */
  role?: RelayRole;
}

/**
 * Stores one publish where this isolate stores them (once, for a keyed one: `digest` given);
 * resolves with its sequence.
 */
export type PublishFn = (
  topic: string,
  eventId: string,
  json: string,
  publisher?: string,
  digest?: string,
) => Promise<Stored>;

/**
 * Ends every stream whose credential no longer holds (expired, or revoked since the stream
 * opened): a credential refused for new requests stops being served at the next heartbeat, not
 * only when its holder reconnects.
 */
async function endLapsed(
  openers: Map<SseSubscriber, Principal>,
  auth: MeshAuth,
  log: Logger,
): Promise<void> {
  const lapsed = await auth.lapsed();
  for (const [s, p] of [...openers]) {
    if (s.ended || !lapsed(p)) continue;
    log.info("subscription ended: its credential expired or was revoked", { sub: p.id });
    s.end("lapsed");
  }
}

/** How an isolate serves when the relay runs several (`--workers`). */
export interface RelayRole {
  /** The main isolate, the first to listen: it refuses a port another process holds. */
  claimPort?: boolean;
  /**
   * Shared by every isolate (a SharedArrayBuffer): `[0]` subscribers open in the whole service
   * (the `max_subscribers` bound counts them all), `[1]` the engine state for `/health`.
   */
  shared: Int32Array;
  /** What `/health` reports as `engine` (undefined: no engine). */
  engine(): "connected" | "unreachable" | undefined;
  /**
   * Called with every event this isolate stored, in sequence order (the main isolate's fan-out to
   * the workers); `unread` as `RemoteRelayStore.onEvent` says (0 or absent: no gap).
   */
  onStored?(e: StoredEvent, unread?: number): void;
  /** Called after each round of age retention (the main isolate forgets the topics it freed). */
  onExpired?(): void;
  /**
   * Called before a publish is stored here; throws to refuse it (the main isolate, while a
   * worker holds more than `backlog_bytes` of events it has not taken).
   * @throws {UnavailableError} answered 503 with Retry-After
   */
  admit?(): void;
  /** Handed the function that stores a publish here (the main isolate stores the workers'). */
  publisher?(publish: PublishFn): void;
  /** Awaited before the store closes (the main isolate waits for its workers to drain). */
  beforeStoreClose?(): Promise<void>;
  /** The `/metrics` text: totals over every isolate. */
  metricsText: NonNullable<ServerOptions["metricsText"]>;
  /** Handed the reader of this isolate's own metrics once the server exists. */
  ownMetrics(read: () => Promise<string>): void;
  /** Open connections of every isolate (`max_connections` caps them together). */
  connections: Int32Array;
}

/** The relay's own metrics. */
export type RelayMetrics = ReturnType<typeof relayMetrics>;

function relayMetrics(
  registry: Registry,
  hub: Hub,
  held: HeldBytes,
  storeOk: (() => boolean) | undefined,
) {
  const counter = (name: string, help: string) =>
    new Counter({ name, help, registers: [registry] });
  new Gauge({
    name: "iatp_relay_subscribers",
    help: "Open SSE subscriptions.",
    registers: [registry],
    collect() {
      this.set(hub.size);
    },
  });
  new Gauge({
    name: "iatp_relay_backlog_bytes",
    help: "Bytes of events waiting in the fan-out for a flush round (a burst being caught up).",
    registers: [registry],
    collect() {
      this.set(hub.backlog);
    },
  });
  new Gauge({
    name: "iatp_relay_subscriber_bytes",
    help: "Bytes held for subscribers: frames not yet written and what their sockets have not " +
      "taken yet (bounded by queue_bytes_total, with those of subscribers that ended and whose " +
      "sockets have not let them go yet).",
    registers: [registry],
    collect() {
      this.set(held.total);
    },
  });
  // One isolate's answer (the main one's with --workers): a sum over isolates would mean nothing.
  if (storeOk) {
    new Gauge({
      name: "iatp_relay_store_ok",
      help: "1 while the store takes and reads events (/health's store component is ok); 0 " +
        "while the engine is unreachable, the tail cannot read the stream or a publish could " +
        "not be written.",
      registers: [registry],
      collect() {
        this.set(storeOk() ? 1 : 0);
      },
    });
  }
  return {
    published: counter("iatp_relay_published_total", "Events accepted by POST /publish."),
    delivered: counter("iatp_relay_delivered_total", "Live event frames queued to subscribers."),
    overflows: counter("iatp_relay_overflows_total", "Subscribers cut off for a full queue."),
    heldCuts: counter(
      "iatp_relay_total_overflows_total",
      "Subscribers cut off because all subscribers together held queue_bytes_total " +
        "(counted in iatp_relay_overflows_total too).",
    ),
    topicRefusals: new Counter({
      name: "iatp_relay_topic_refusals_total",
      help: "Publishes refused for creating one topic too many, by the setting they reached " +
        "(max_topics, max_topics_per_principal).",
      labelNames: ["setting"],
      registers: [registry],
    }),
    streamRefusals: new Counter({
      name: "iatp_relay_stream_refusals_total",
      help: "Publishes the NATS JetStream stream refused for good, by reason (stream_full, " +
        "topic_full, message_too_large, stream_sealed, stream_gone, stream_subjects, " +
        "engine_full).",
      labelNames: ["reason"],
      registers: [registry],
    }),
  };
}

/** Starts a relay on `opts.store`; closing the service also closes the store. */
export async function startRelayServer(opts: RelayServerOptions): Promise<Service> {
  const { store, log } = opts;
  const hub = new Hub({
    backlogBytes: opts.backlogBytes,
    onDelivered: (frames) => m.delivered.inc(frames),
  });
  const shared = opts.role?.shared ?? new Int32Array(1);
  const auth = opts.auth ?? createMeshAuth({});
  const origins = opts.corsOrigins ?? [];
  // Publishes, subscriptions and preflights skip the router (set once the context exists).
  let rawRoutes: NonNullable<ServerOptions["rawRoutes"]> = () => undefined;
  const engine = opts.role?.engine ??
    (() => isRemoteStore(store) ? store.available ? "connected" : "unreachable" : undefined);
  const server = createServer({
    service: "relay",
    host: opts.host,
    port: opts.port,
    log,
    ...opts.edge,
    anyHost: auth.enabled || opts.insecure === true,
    health: () => relayHealth(store, engine(), Atomics.load(shared, 0)),
    rawRoutes: (method, path, head) => rawRoutes(method, path, head),
    reusePort: opts.role !== undefined,
    claimPort: opts.role?.claimPort,
    sharedConnections: opts.role?.connections,
    metricsText: opts.role?.metricsText,
  });
  opts.role?.ownMetrics(() => server.metrics.registry.metrics());
  const storeOk = () => storeHealth(store, engine()).ok;
  const main = opts.role === undefined || opts.role.claimPort === true;
  const held = new HeldBytes(
    opts.queueBytesTotal ?? DEFAULT_QUEUE_BYTES_TOTAL,
    () => m.heldCuts.inc(),
  );
  const m = relayMetrics(server.metrics.registry, hub, held, main ? storeOk : undefined);
  if (origins.length > 0) {
    server.routes(async (app) => {
      const { cors } = await import("hono/cors");
      app.use("*", cors({ origin: (o) => allowedOrigin(origins, o), ...CORS_SETTINGS }));
    });
  }

  // A remote store's events (this replica's own publishes too) reach the fan-out from its tail.
  if (isRemoteStore(store)) {
    let epoch = store.epoch;
    store.onEvent((e, unread) => {
      // The stream was created again (a new history, numbered from 1): subscriptions opened in
      // the old one end, and resume as after a restart (reset: epoch).
      if (store.epoch !== epoch) {
        epoch = store.epoch;
        hub.forEach((s) => s.end("shutdown"));
      }
      // Events of the topic left the engine before this replica read them: its subscribers end
      // with overflow and resume by their last id, which names the gap (reset: truncated).
      if (unread > 0) hub.cut(e.topic, UNREAD_REASON);
      m.delivered.inc(hub.dispatch(e.topic, messageFrame(store.epoch, e)));
      opts.role?.onStored?.(e, unread);
    });
  }
  const ctx: RelayContext = {
    opts,
    store,
    hub,
    auth,
    log,
    metrics: m,
    refusals: new TopicRefusals(log, m.topicRefusals),
    streamRefusals: new StreamRefusals(log, m.streamRefusals),
    faultLogs: { unacked: new LogEvery(), unstored: new LogEvery() },
    server,
    subscribers: shared,
    openByPrincipal: new Map(),
    openers: new Map(),
    rounds: new FlushRounds(opts.flush),
    held,
    turns: new ReplayTurns(opts.replayTurnBytes),
    replays: new ReplayChunks(),
    keys: new IdempotencyKeys(
      opts.maxIdempotencyKeys ?? DEFAULT_MAX_IDEMPOTENCY_KEYS,
      opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS,
    ),
  };
  // A durable store's keyed publishes of the last `duplicate_window` are remembered again, so a
  // retry of one that reaches this relay after a restart is not stored twice.
  if (!isRemoteStore(store) && store.keyedSince) {
    const keys = ctx.keys;
    keys.follow(store.epoch);
    keys.seed(
      store.keyedSince(Date.now() - keys.windowMs, keys.max).map((e) => ({
        eventId: e.eventId,
        seq: e.seq,
        atMs: e.tsMs,
        digest: publishDigest(e.topic, e.payloadJson),
      })),
    );
  }
  opts.role?.publisher?.((topic, eventId, json, publisher, digest) =>
    storeEvent(ctx, topic, eventId, json, publisher, digest)
  );
  rawRoutes = relayRawRoutes(ctx, origins);
  server.routes((app) => {
    registerPublish(ctx, app);
    registerSubscribe(ctx, app);
    registerTopics(ctx, app);
  });

  const heartbeat = shareChunk(encodeComment("heartbeat"));
  const timers = [
    every(opts.heartbeatMs, () => {
      hub.forEach((s) => s.offerIfIdle(heartbeat));
      if (auth.enabled) {
        endLapsed(ctx.openers, auth, log).catch((err) => log.error("lapse check failed", { err }));
      }
    }),
    every(opts.expireIntervalMs, () => {
      try {
        const n = store.expire(Date.now());
        if (n > 0) log.debug("expired events", { count: n });
        opts.role?.onExpired?.();
      } catch (err) {
        log.error("age retention failed", { err });
      }
    }),
  ];
  server.onDrain(() => {
    timers.forEach((t) => t.cancel());
    hub.forEach((s) => s.end("shutdown"));
  });
  const svc = await server.listen();
  let closing: Promise<void> | undefined;
  return {
    url: svc.url,
    failed: svc.failed,
    close: () =>
      closing ??= svc.close().finally(async () => {
        timers.forEach((t) => t.cancel());
        await opts.role?.beforeStoreClose?.();
        await store.close();
      }),
  };
}
