/**
 * The relay's HTTP surface: `POST /publish`, `GET /subscribe` (SSE), `GET /topics`, on the
 * shared server factory (health, metrics, error envelope, drain).
 * @module
 */
import type { Context } from "hono";
import { cors } from "hono/cors";
import { Counter, Gauge } from "../metrics/mod.ts";
import { HttpError } from "../errors/mod.ts";
import { type AppEnv, createServer, type Service } from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";
import { RelayAuth } from "./auth.ts";
import { Hub } from "./hub.ts";
import { formatPosition } from "./position.ts";
import { messageFrame, openSubscription, parseStartPoint } from "./replay.ts";
import { encodeComment } from "./sse.ts";
import { type RelayStore, TopicLimitError } from "./store.ts";
import { SseSubscriber } from "./subscriber.ts";
import { isTopicName, isTopicPattern, TopicFilter } from "./topic.ts";

/** Default largest accepted payload (serialized JSON). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;
/** Default bound on concurrent subscribers. */
export const DEFAULT_MAX_SUBSCRIBERS = 20_000;
/** Default bound on `topic` parameters per subscription. */
export const DEFAULT_MAX_TOPICS_PER_SUBSCRIPTION = 64;

/** Everything the relay server needs. */
export interface RelayServerOptions {
  host: string;
  port: number;
  log: Logger;
  store: RelayStore;
  maxBodyBytes?: number;
  drainTimeoutMs?: number;
  maxPayloadBytes?: number;
  queueFrames?: number;
  maxSubscribers?: number;
  maxTopicsPerSubscription?: number;
  heartbeatMs: number;
  retryMs: number;
  /** How often age retention runs. */
  expireIntervalMs: number;
  replayBatch?: number;
  /** Token -> scopes; empty means open. */
  tokens?: Record<string, string[]>;
  /** Allowed CORS origins (`*` for any); empty means no CORS headers. */
  corsOrigins?: string[];
}

function relayMetrics(registry: import("../metrics/mod.ts").Registry, hub: Hub) {
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
  return {
    published: counter("iatp_relay_published_total", "Events accepted by POST /publish."),
    delivered: counter("iatp_relay_delivered_total", "Live event frames queued to subscribers."),
    overflows: counter("iatp_relay_overflows_total", "Subscribers cut off for a full queue."),
  };
}

async function readPublish(c: Context<AppEnv>, maxPayload: number) {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new HttpError(400, "invalid JSON body", { expected: '{"topic": "...", "payload": {}}' });
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "body must be a JSON object {topic, payload}");
  }
  const { topic, payload } = body as { topic?: unknown; payload?: unknown };
  if (!isTopicName(topic)) {
    throw new HttpError(400, "invalid topic name", {
      expected: "a name matching ^[A-Za-z0-9._:-]{1,128}$",
    });
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new HttpError(400, "payload must be a JSON object");
  }
  const json = JSON.stringify(payload);
  // Cheap bound first: UTF-8 is at most 3 bytes per UTF-16 unit.
  if (json.length * 3 > maxPayload && new TextEncoder().encode(json).length > maxPayload) {
    throw new HttpError(400, `payload exceeds ${maxPayload} bytes`, { limit_bytes: maxPayload });
  }
  return { topic, json };
}

/** Starts a relay on `opts.store`; closing the service also closes the store. */
export async function startRelayServer(opts: RelayServerOptions): Promise<Service> {
  const { store, log } = opts;
  const hub = new Hub();
  const auth = new RelayAuth(opts.tokens ?? {});
  const maxPayload = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const maxSubscribers = opts.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS;
  const maxTopics = opts.maxTopicsPerSubscription ?? DEFAULT_MAX_TOPICS_PER_SUBSCRIPTION;
  const server = createServer({
    service: "relay",
    host: opts.host,
    port: opts.port,
    log,
    maxBodyBytes: opts.maxBodyBytes,
    drainTimeoutMs: opts.drainTimeoutMs,
    health: () => ({
      status: "ok",
      service: "relay",
      epoch: store.epoch,
      last_id: formatPosition(store.epoch, store.lastSeq),
      subscribers: hub.size,
    }),
  });
  const m = relayMetrics(server.metrics.registry, hub);
  const { app } = server;
  const origins = opts.corsOrigins ?? [];
  if (origins.length > 0) {
    app.use(
      "*",
      cors({
        origin: (o) => origins.includes("*") || origins.includes(o) ? o : null,
        allowMethods: ["GET", "POST", "OPTIONS"],
        allowHeaders: ["Authorization", "Content-Type", "Last-Event-ID", "X-Request-Id"],
        exposeHeaders: ["X-Request-Id"],
        maxAge: 600,
      }),
    );
  }

  app.post("/publish", async (c) => {
    const grants = auth.identify(c.req.header("authorization"));
    const { topic, json } = await readPublish(c, maxPayload);
    auth.require(grants, "publish", [topic]);
    const eventId = crypto.randomUUID();
    let event;
    try {
      event = store.append(topic, eventId, json, Date.now());
    } catch (err) {
      if (err instanceof TopicLimitError) throw new HttpError(507, err.message);
      throw err;
    }
    m.published.inc();
    m.delivered.inc(hub.dispatch(topic, messageFrame(store.epoch, event)));
    const id = formatPosition(store.epoch, event.seq);
    return c.json({ status: "ok", event_id: eventId, seq: event.seq, id }, 201);
  });

  app.get("/subscribe", (c) => {
    const grants = auth.identify(c.req.header("authorization"));
    const topics = c.req.queries("topic") ?? [];
    if (topics.length === 0) throw new HttpError(400, "at least one topic parameter is required");
    if (topics.length > maxTopics) {
      throw new HttpError(400, `at most ${maxTopics} topic parameters are allowed`);
    }
    const bad = topics.find((t: string) => !isTopicPattern(t));
    if (bad !== undefined) {
      throw new HttpError(400, "invalid topic pattern", {
        expected: "a topic name, a name ending in .* or *",
        found: String(bad).slice(0, 140),
      });
    }
    auth.require(grants, "subscribe", topics);
    const start = parseStartPoint(c.req.header("last-event-id") ?? c.req.query("since"));
    if (server.draining) throw new HttpError(503, "relay is shutting down");
    if (hub.size >= maxSubscribers) {
      throw new HttpError(503, `subscriber limit of ${maxSubscribers} reached`);
    }
    let remove = () => {};
    const stream = new SseSubscriber({
      queueFrames: opts.queueFrames,
      onEnd: (reason) => {
        remove();
        if (reason === "overflow") m.overflows.inc();
      },
    });
    openSubscription({
      store,
      hub,
      filter: new TopicFilter(topics),
      stream,
      start,
      retryMs: opts.retryMs,
      replayBatch: opts.replayBatch,
      onRegistered: (r) => remove = r,
    }).catch((err) => {
      log.warn("replay failed", { err });
      stream.end("error");
    });
    return c.body(stream.body, 200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    });
  });

  app.get("/topics", (c) => {
    const grants = auth.identify(c.req.header("authorization"));
    const topics = store.topics().filter((t) => auth.maySee(grants, t.topic)).map((t) => ({
      topic: t.topic,
      count: t.count,
      last_seq: t.lastSeq,
      last_id: formatPosition(store.epoch, t.lastSeq),
      oldest_id: t.oldestSeq === undefined ? null : formatPosition(store.epoch, t.oldestSeq),
    }));
    topics.sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0);
    return c.json({ epoch: store.epoch, topics });
  });

  const heartbeat = encodeComment("heartbeat");
  const timers = [
    setInterval(() => hub.forEach((e) => e.stream.offerIfIdle(heartbeat)), opts.heartbeatMs),
    setInterval(() => {
      try {
        const n = store.expire(Date.now());
        if (n > 0) log.debug("expired events", { count: n });
      } catch (err) {
        log.error("age retention failed", { err });
      }
    }, opts.expireIntervalMs),
  ];
  server.onDrain(() => {
    timers.forEach(clearInterval);
    hub.forEach((e) => e.stream.end("shutdown"));
  });
  const svc = await server.listen();
  let closing: Promise<void> | undefined;
  return {
    url: svc.url,
    close: () =>
      closing ??= svc.close().finally(() => {
        timers.forEach(clearInterval);
        store.close();
      }),
  };
}
