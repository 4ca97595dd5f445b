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
import { type App, type AppEnv, responseOf, type Server } from "../http/mod.ts";
import type { MeshAuth, Principal } from "../auth/mod.ts";
import type { LogEvery, Logger } from "../log/mod.ts";
import { authenticated, maySee, principalOf, requireTopics } from "./auth.ts";
import type { Hub } from "./hub.ts";
import { refuseForeignOrigin } from "./cors.ts";
import { formatPosition } from "./position.ts";
import {
  idempotencyKeyOf,
  invalidJson,
  publishEvent,
  publishInput,
  publishText,
} from "./publish.ts";
import { subscribeAnswer } from "./subscribe.ts";
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_RESUME_WAIT_MS,
  type RelayMetrics,
  type RelayServerOptions,
} from "./server.ts";
import { type AnyRelayStore, isRemoteStore } from "./store.ts";
import type { StreamRefusals, TopicRefusals } from "./refusals.ts";
import type { FlushRounds, HeldBytes, ReplayTurns, SseSubscriber } from "./stream/mod.ts";
import type { IdempotencyKeys } from "./idempotency.ts";
import type { ReplayChunks } from "./replay.ts";

/** What the route handlers share. */
export interface RelayContext {
  opts: RelayServerOptions;
  store: AnyRelayStore;
  hub: Hub;
  auth: MeshAuth;
  log: Logger;
  metrics: RelayMetrics;
  /** Publishes refused by a topic bound: counted and logged. */
  refusals: TopicRefusals;
  /** Publishes the JetStream stream refused for good: counted and logged. */
  streamRefusals: StreamRefusals;
  /**
   * Publishes the engine did not acknowledge, and ones the store could not write: one warning
   * a minute each, with the count since the last.
   */
  faultLogs: { unacked: LogEvery; unstored: LogEvery };
  server: Server;
  /** `[0]`: subscribers open in the whole service (every isolate with `--workers`). */
  subscribers: Int32Array;
  /** Subscriptions open on this isolate per authenticated principal id. */
  openByPrincipal: Map<string, number>;
  /** Who opened each stream open on this isolate (auth on): it ends once that credential lapses. */
  openers: Map<SseSubscriber, Principal>;
  /** The flush rounds every subscriber of this server is written in. */
  rounds: FlushRounds;
  /** What this isolate's subscribers hold together, bounded by `queue_bytes_total`. */
  held: HeldBytes;
  /** The replay work of one turn of the event loop. */
  turns: ReplayTurns;
  /** The chunks of replay batches made lately, for replays of the same history to share. */
  replays: ReplayChunks;
  /** The keyed publishes (`Idempotency-Key`) stored lately, and the ones being stored. */
  keys: IdempotencyKeys;
}

async function readPublish(c: Context<AppEnv>, maxPayload: number, compat: CompatMode) {
  let body: unknown;
  try {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    body = JSON.parse(publishText(bytes));
  } catch (err) {
    // The edge's own answer for the body (408 too slow, 413 too large, 400 cut short) stands.
    if (err instanceof HttpError) throw err;
    throw invalidJson(compat, err);
  }
  return publishInput(body, maxPayload, compat);
}

/**
 * `POST /publish {topic, payload}` -> 200 (`compat: upstream`) or 201 (`compat: iatp`)
 * `{status, event_id, seq, id}`. The event carries the authenticated caller as `publisher`
 * (absent when the relay runs open), which subscribers such as the action agent use to decide
 * whether a task may be obeyed.
 */
export function registerPublish(ctx: RelayContext, app: App): void {
  const compat = ctx.opts.compat ?? "upstream";
  const origins = ctx.opts.corsOrigins ?? [];
  app.post("/publish", authenticated(ctx.auth), async (c) => {
    refuseForeignOrigin(origins, c.req.header("origin") ?? null);
    const key = idempotencyKeyOf(c.req.header("idempotency-key"), compat);
    const { topic, json } = await readPublish(
      c,
      ctx.opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      compat,
    );
    requireTopics(principalOf(c), "publish", [topic]);
    const requestId = c.get("requestId") ?? "";
    const a = await publishEvent(ctx, topic, json, principalOf(c)?.id, requestId, key);
    return c.json(a.body, a.status as 200, Object.fromEntries(a.headers));
  });
}

/** `GET /subscribe?topic=...`: replay after the resume position, then live events. */
export function registerSubscribe(ctx: RelayContext, app: App): void {
  app.get("/subscribe", authenticated(ctx.auth), async (c) =>
    responseOf(
      await subscribeAnswer(ctx, {
        topics: c.req.queries("topic") ?? [],
        start: c.req.header("last-event-id") ?? c.req.query("since"),
        principal: principalOf(c),
        head: c.req.method === "HEAD",
        requestId: c.get("requestId") ?? "",
      }),
    ));
}

/**
 * `GET /topics`: retained count and last position per topic the caller may see. On a store fed
 * by a tail (JetStream, or another isolate's store), the answer waits, up to `resume_wait`, for
 * the tail to read every event the engine held when the request came: a publisher that was
 * answered 201 sees its topic, whichever replica or isolate it asks.
 */
export function registerTopics(ctx: RelayContext, app: App): void {
  app.get("/topics", authenticated(ctx.auth), async (c) => {
    await tailCaughtUp(ctx.store, ctx.opts.resumeWaitMs ?? DEFAULT_RESUME_WAIT_MS);
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

/**
 * Waits, up to `waitMs`, for a tail-fed store to read through the engine's newest sequence as it
 * is now; at once for a local store, an engine out of reach or a stream it cannot look up (deleted
 * until a replica creates it again): the answer is then what this replica has, as /health says.
 */
async function tailCaughtUp(store: AnyRelayStore, waitMs: number): Promise<void> {
  if (!isRemoteStore(store) || !store.available) return;
  let target: number;
  try {
    target = await store.engineLastSeq();
  } catch {
    return;
  }
  if (target > store.lastSeq) await store.waitFor(target, waitMs);
}
