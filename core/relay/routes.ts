/**
 * The relay's routes: `POST /publish`, `GET /subscribe` (SSE) and `GET /topics`. Handlers stay
 * thin: validation and auth here, the log and the fan-out in store/hub/replay.
 * @module
 */
import type { Context } from "hono";
import { HttpError } from "../errors/mod.ts";
import type { AppEnv, Server } from "../http/mod.ts";
import type { MeshAuth } from "../auth/bearer.ts";
import type { Logger } from "../log/mod.ts";
import { authenticated, maySee, principalOf, requireTopics } from "./auth.ts";
import type { Hub } from "./hub.ts";
import { formatPosition } from "./position.ts";
import { messageFrame, openSubscription, parseStartPoint } from "./replay.ts";
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_SUBSCRIBERS,
  DEFAULT_MAX_TOPICS_PER_SUBSCRIPTION,
  type RelayMetrics,
  type RelayServerOptions,
} from "./server.ts";
import { type RelayStore, TopicLimitError } from "./store.ts";
import { SseSubscriber } from "./subscriber.ts";
import { isTopicName, isTopicPattern, TopicFilter } from "./topic.ts";

/** What the route handlers share. */
export interface RelayContext {
  opts: RelayServerOptions;
  store: RelayStore;
  hub: Hub;
  auth: MeshAuth;
  log: Logger;
  metrics: RelayMetrics;
  server: Server;
}

async function readPublish(c: Context<AppEnv>, maxPayload: number) {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (err) {
    // The edge's own answer for the body (408 too slow, 413 too large, 400 cut short) stands.
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, "invalid JSON body", {
      expected: '{"topic": "...", "payload": {}}',
    }, { cause: err });
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

/**
 * `POST /publish {topic, payload}` -> 201 `{status, event_id, seq, id}`. The event carries the
 * authenticated caller as `publisher` (absent when the relay runs open), which subscribers such
 * as the action agent use to decide whether a task may be obeyed.
 */
export function registerPublish(ctx: RelayContext): void {
  ctx.server.app.post("/publish", authenticated(ctx.auth), async (c) => {
    const { topic, json } = await readPublish(
      c,
      ctx.opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    );
    requireTopics(principalOf(c), "publish", [topic]);
    const publisher = principalOf(c)?.id;
    const eventId = crypto.randomUUID();
    let event;
    try {
      event = ctx.store.append(topic, eventId, json, Date.now(), publisher);
    } catch (err) {
      if (err instanceof TopicLimitError) throw new HttpError(507, err.message);
      throw err;
    }
    ctx.metrics.published.inc();
    ctx.metrics.delivered.inc(ctx.hub.dispatch(topic, messageFrame(ctx.store.epoch, event)));
    const id = formatPosition(ctx.store.epoch, event.seq);
    return c.json({ status: "ok", event_id: eventId, seq: event.seq, id }, 201);
  });
}

/** `GET /subscribe?topic=...`: replay after the resume position, then live events. */
export function registerSubscribe(ctx: RelayContext): void {
  ctx.server.app.get("/subscribe", authenticated(ctx.auth), (c) => {
    const maxTopics = ctx.opts.maxTopicsPerSubscription ?? DEFAULT_MAX_TOPICS_PER_SUBSCRIPTION;
    const maxSubscribers = ctx.opts.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS;
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
    requireTopics(principalOf(c), "subscribe", topics);
    const start = parseStartPoint(c.req.header("last-event-id") ?? c.req.query("since"));
    if (ctx.server.draining) throw new HttpError(503, "relay is shutting down");
    if (ctx.hub.size >= maxSubscribers) {
      throw new HttpError(503, `subscriber limit of ${maxSubscribers} reached`);
    }
    let remove = () => {};
    const stream = new SseSubscriber({
      queueBytes: ctx.opts.queueBytes,
      onEnd: (reason) => {
        remove();
        if (reason === "overflow") ctx.metrics.overflows.inc();
      },
    });
    openSubscription({
      store: ctx.store,
      hub: ctx.hub,
      filter: new TopicFilter(topics),
      stream,
      start,
      retryMs: ctx.opts.retryMs,
      replayBatch: ctx.opts.replayBatch,
      onRegistered: (r) => remove = r,
    }).catch((err) => {
      ctx.log.warn("replay failed", { err });
      stream.end("error");
    });
    return c.body(stream.body, 200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    });
  });
}

/** `GET /topics`: retained count and last position per topic the caller may see. */
export function registerTopics(ctx: RelayContext): void {
  ctx.server.app.get("/topics", authenticated(ctx.auth), (c) => {
    const principal = principalOf(c);
    const topics = ctx.store.topics().filter((t) => maySee(principal, t.topic)).map((t) => ({
      topic: t.topic,
      count: t.count,
      last_seq: t.lastSeq,
      last_id: formatPosition(ctx.store.epoch, t.lastSeq),
      oldest_id: t.oldestSeq === undefined ? null : formatPosition(ctx.store.epoch, t.oldestSeq),
    }));
    topics.sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0);
    return c.json({ epoch: ctx.store.epoch, topics });
  });
}
