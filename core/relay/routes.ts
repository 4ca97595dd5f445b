/**
 * The relay's routes: `POST /publish`, `GET /subscribe` (SSE) and `GET /topics`. Handlers stay
 * thin: validation and auth here, the log and the fan-out in store/hub/replay. Under
 * `compat: upstream` a publish answers 200 and invalid input 422 with `detail`, as the IG&S
 * relay does; under `compat: iatp`, 201 and 400.
 * @module
 */
import type { Context } from "hono";
import type { CompatMode } from "../compat/mod.ts";
import { HttpError } from "../errors/mod.ts";
import { type App, type AppEnv, errorBody, type Server } from "../http/mod.ts";
import type { MeshAuth } from "../auth/mod.ts";
import type { Logger } from "../log/mod.ts";
import { authenticated, maySee, principalOf, requireTopics } from "./auth.ts";
import type { Hub } from "./hub.ts";
import { formatPosition } from "./position.ts";
import { openSubscription, parseStartPoint, type StartPoint } from "./replay.ts";
import { isEngineOutage } from "../nats/mod.ts";
import { invalidJson, publishEvent, publishInput, refuse, RETRY_AFTER_SECONDS } from "./publish.ts";
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_SUBSCRIBERS,
  DEFAULT_MAX_TOPICS_PER_SUBSCRIPTION,
  DEFAULT_RESUME_WAIT_MS,
  type RelayMetrics,
  type RelayServerOptions,
} from "./server.ts";
import { type AnyRelayStore, isRemoteStore, type RemoteRelayStore } from "./store.ts";
import type { FlushRounds } from "./stream/mod.ts";
import { SseSubscriber } from "./stream/mod.ts";
import { isTopicPattern, TopicFilter } from "../topic/mod.ts";

/** What the route handlers share. */
export interface RelayContext {
  opts: RelayServerOptions;
  store: AnyRelayStore;
  hub: Hub;
  auth: MeshAuth;
  log: Logger;
  metrics: RelayMetrics;
  server: Server;
  /** `[0]`: subscribers open in the whole service (every isolate with `--workers`). */
  subscribers: Int32Array;
  /** The flush rounds every subscriber of this server is written in. */
  rounds: FlushRounds;
}

async function readPublish(c: Context<AppEnv>, maxPayload: number, compat: CompatMode) {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (err) {
    // The edge's own answer for the body (408 too slow, 413 too large, 400 cut short) stands.
    if (err instanceof HttpError) throw err;
    throw invalidJson(compat, err);
  }
  return publishInput(body, maxPayload, compat);
}

/** 503 with Retry-After: the engine is out of reach for now (nothing was acknowledged). */
function unavailable(c: Context<AppEnv>, message: string): Response {
  c.header("Retry-After", String(RETRY_AFTER_SECONDS));
  return c.json(errorBody(message, c.get("requestId") ?? ""), 503);
}

/**
 * Waits (bounded) for a remote store's tail to reach a resume position from another replica;
 * a response when it did not, undefined to go on. A position beyond the engine's own newest
 * sequence never was, and goes on to the usual `ahead` reset.
 */
async function awaitTail(
  c: Context<AppEnv>,
  store: RemoteRelayStore,
  start: StartPoint,
  waitMs: number,
): Promise<Response | undefined> {
  if (start.kind !== "after" || start.epoch !== store.epoch || start.seq <= store.lastSeq) return;
  if (await store.waitFor(start.seq, waitMs)) return;
  try {
    if (start.seq > await store.engineLastSeq()) return;
  } catch (err) {
    if (!isEngineOutage(err)) throw err;
  }
  return unavailable(c, "this relay replica has not caught up with the resume position; retry");
}

/**
 * `POST /publish {topic, payload}` -> 200 (`compat: upstream`) or 201 (`compat: iatp`)
 * `{status, event_id, seq, id}`. The event carries the authenticated caller as `publisher`
 * (absent when the relay runs open), which subscribers such as the action agent use to decide
 * whether a task may be obeyed.
 */
export function registerPublish(ctx: RelayContext, app: App): void {
  const compat = ctx.opts.compat ?? "upstream";
  app.post("/publish", authenticated(ctx.auth), async (c) => {
    const { topic, json } = await readPublish(
      c,
      ctx.opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      compat,
    );
    requireTopics(principalOf(c), "publish", [topic]);
    const a = await publishEvent(ctx, topic, json, principalOf(c)?.id, c.get("requestId") ?? "");
    return c.json(a.body, a.status as 200, Object.fromEntries(a.headers));
  });
}

/** The fields of an SSE answer. */
const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
};

/** `GET /subscribe?topic=...`: replay after the resume position, then live events. */
export function registerSubscribe(ctx: RelayContext, app: App): void {
  app.get("/subscribe", authenticated(ctx.auth), async (c) => {
    const maxTopics = ctx.opts.maxTopicsPerSubscription ?? DEFAULT_MAX_TOPICS_PER_SUBSCRIPTION;
    const maxSubscribers = ctx.opts.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS;
    const topics = c.req.queries("topic") ?? [];
    if (topics.length === 0) {
      throw refuse(
        ctx.opts.compat ?? "upstream",
        "at least one topic parameter is required",
        {
          type: "missing",
          loc: ["topic"],
          msg: "Field required",
        },
        {},
        "query",
      );
    }
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
    if (isRemoteStore(ctx.store)) {
      const wait = ctx.opts.resumeWaitMs ?? DEFAULT_RESUME_WAIT_MS;
      const refused = await awaitTail(c, ctx.store, start, wait);
      if (refused) return refused;
    }
    if (ctx.server.draining) throw new HttpError(503, "relay is shutting down");
    const full = () => new HttpError(503, `subscriber limit of ${maxSubscribers} reached`);
    if (Atomics.load(ctx.subscribers, 0) >= maxSubscribers) throw full();
    // A HEAD answer carries no body: no subscriber to register (nothing would ever read it).
    if (c.req.method === "HEAD") return c.body(null, 200, SSE_HEADERS);
    // The slot is taken atomically: with --workers every isolate counts in the same place.
    if (Atomics.add(ctx.subscribers, 0, 1) >= maxSubscribers) {
      Atomics.sub(ctx.subscribers, 0, 1);
      throw full();
    }
    const stream: SseSubscriber = new SseSubscriber({
      queueBytes: ctx.opts.queueBytes,
      rounds: ctx.rounds,
      onEnd: (reason) => {
        ctx.hub.remove(stream);
        Atomics.sub(ctx.subscribers, 0, 1);
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
    }).catch((err) => {
      ctx.log.warn("replay failed", { err });
      stream.end("error");
    });
    return c.body(stream.body(), 200, SSE_HEADERS);
  });
}

/** `GET /topics`: retained count and last position per topic the caller may see. */
export function registerTopics(ctx: RelayContext, app: App): void {
  app.get("/topics", authenticated(ctx.auth), (c) => {
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
