/**
 * `GET /subscribe`: checking a subscription and opening its SSE stream (replay after the resume
 * position, then live events), shared by the raw-path route and the Hono one.
 * @module
 */
import type { Principal } from "../auth/mod.ts";
import { HttpError } from "../errors/mod.ts";
import type { RawResponse } from "../http/mod.ts";
import { isTopicPattern, TopicFilter } from "../topic/mod.ts";
import { requireTopics } from "./auth.ts";
import { refuse, unavailable } from "./publish.ts";
import { openSubscription, parseStartPoint, type StartPoint } from "./replay.ts";
import type { RelayContext } from "./routes.ts";
import {
  DEFAULT_MAX_SUBSCRIBERS,
  DEFAULT_MAX_SUBSCRIBERS_PER_PRINCIPAL,
  DEFAULT_MAX_TOPICS_PER_SUBSCRIPTION,
  DEFAULT_RESUME_WAIT_MS,
} from "./server.ts";
import { isRemoteStore, type RemoteRelayStore } from "./store.ts";
import { SseSubscriber } from "./stream/mod.ts";

/** What a subscription asks for. */
export interface SubscribeRequest {
  /** Every `topic` parameter, in order. */
  topics: string[];
  /** `Last-Event-ID`, else the `since` parameter. */
  start: string | undefined;
  /** The authenticated caller (undefined: auth off). */
  principal: Principal | undefined;
  /** A HEAD request: the head of the answer, no stream. */
  head: boolean;
  requestId: string;
}

/** The fields of an SSE answer. */
const SSE_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["content-type", "text/event-stream; charset=utf-8"],
  ["cache-control", "no-cache, no-transform"],
  ["x-accel-buffering", "no"],
];

/** A 503 envelope with Retry-After, as a raw answer. */
function unavailableAnswer(message: string, requestId: string): RawResponse {
  const a = unavailable(message, requestId);
  return {
    status: a.status,
    headers: [["content-type", "application/json"], ...a.headers],
    body: JSON.stringify(a.body),
  };
}

/**
 * Waits (bounded) for a remote store's tail to reach a resume position from another replica;
 * an answer when it did not, undefined to go on. A position beyond the engine's own newest
 * sequence never was, and goes on to the usual `ahead` reset; one the engine cannot be asked about
 * (out of reach, stream deleted) is answered 503 with Retry-After.
 */
async function awaitTail(
  store: RemoteRelayStore,
  start: StartPoint,
  waitMs: number,
  requestId: string,
): Promise<RawResponse | undefined> {
  if (start.kind !== "after" || start.epoch !== store.epoch || start.seq <= store.lastSeq) return;
  if (await store.waitFor(start.seq, waitMs)) return;
  try {
    if (start.seq > await store.engineLastSeq()) return;
  } catch {
    // The engine out of reach, or a stream it cannot look up (deleted until a replica creates it
    // again): whether the position ever was is unknown, so the client is told to retry. A stream
    // created again has a new epoch, and the retry then resets as any old position does.
  }
  const message = "this relay replica has not caught up with the resume position; retry";
  return unavailableAnswer(message, requestId);
}

/**
 * @throws {HttpError} 400 (422 under `compat: upstream` for a missing topic) for topics that are
 * missing, too many or not patterns; 403 for a topic out of the caller's scope
 */
function checkTopics(ctx: RelayContext, r: SubscribeRequest): void {
  const maxTopics = ctx.opts.maxTopicsPerSubscription ?? DEFAULT_MAX_TOPICS_PER_SUBSCRIPTION;
  const { topics } = r;
  if (topics.length === 0) {
    throw refuse(
      ctx.opts.compat ?? "upstream",
      "at least one topic parameter is required",
      { type: "missing", loc: ["topic"], msg: "Field required" },
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
  requireTopics(r.principal, "subscribe", topics);
}

/**
 * Counts one more subscription of `principal` on this isolate, or refuses it past
 * `max_subscribers_per_principal`, so one credential cannot take every `max_subscribers` slot
 * from the rest of the mesh. Anonymous subscribers (an open relay) are bounded by
 * `max_subscribers` alone. Returns the release to call once when the subscription ends.
 * @throws {HttpError} 429 naming the setting and its bound
 */
function takePrincipalSlot(ctx: RelayContext, principal: Principal | undefined): () => void {
  if (!principal) return () => {};
  const limit = ctx.opts.maxSubscribersPerPrincipal ?? DEFAULT_MAX_SUBSCRIBERS_PER_PRINCIPAL;
  const open = ctx.openByPrincipal;
  const id = principal.id;
  const n = open.get(id) ?? 0;
  if (n >= limit) {
    throw new HttpError(
      429,
      `subscription limit of ${limit} per subscriber reached (max_subscribers_per_principal)`,
      { setting: "max_subscribers_per_principal", limit },
    );
  }
  open.set(id, n + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (open.get(id) ?? 1) - 1;
    if (left > 0) open.set(id, left);
    else open.delete(id);
  };
}

/**
 * The answer to a subscription: 200 with its SSE stream (registered with the fan-out; none for
 * HEAD), or 503 with Retry-After while a remote store's tail lags a resume position.
 * @throws {HttpError} as {@linkcode checkTopics}; 400 for an invalid resume position; 503 while
 * shutting down or at `max_subscribers`; 429 at `max_subscribers_per_principal`
 */
export async function subscribeAnswer(
  ctx: RelayContext,
  r: SubscribeRequest,
): Promise<RawResponse> {
  const maxSubscribers = ctx.opts.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS;
  checkTopics(ctx, r);
  const start = parseStartPoint(r.start);
  if (isRemoteStore(ctx.store)) {
    const wait = ctx.opts.resumeWaitMs ?? DEFAULT_RESUME_WAIT_MS;
    const refused = await awaitTail(ctx.store, start, wait, r.requestId);
    if (refused) return refused;
  }
  if (ctx.server.draining) throw new HttpError(503, "relay is shutting down");
  const full = () => new HttpError(503, `subscriber limit of ${maxSubscribers} reached`);
  if (Atomics.load(ctx.subscribers, 0) >= maxSubscribers) throw full();
  const headers = SSE_HEADERS.map(([k, v]): [string, string] => [k, v]);
  // A HEAD answer carries no body: no subscriber to register (nothing would ever read it).
  if (r.head) return { status: 200, headers, body: null };
  // The slot is taken atomically: with --workers every isolate counts in the same place.
  const release = takePrincipalSlot(ctx, r.principal);
  if (Atomics.add(ctx.subscribers, 0, 1) >= maxSubscribers) {
    Atomics.sub(ctx.subscribers, 0, 1);
    release();
    throw full();
  }
  const stream: SseSubscriber = new SseSubscriber({
    queueBytes: ctx.opts.queueBytes,
    rounds: ctx.rounds,
    held: ctx.held,
    overflowWaitMs: ctx.opts.overflowWaitMs,
    onEnd: (reason) => {
      ctx.hub.remove(stream);
      ctx.openers.delete(stream);
      Atomics.sub(ctx.subscribers, 0, 1);
      release();
      if (reason === "overflow") ctx.metrics.overflows.inc();
    },
  });
  if (r.principal) ctx.openers.set(stream, r.principal);
  openSubscription({
    store: ctx.store,
    hub: ctx.hub,
    filter: new TopicFilter(r.topics),
    stream,
    start,
    retryMs: ctx.opts.retryMs,
    replayBatch: ctx.opts.replayBatch,
    turns: ctx.turns,
    shared: ctx.replays,
  }).catch((err) => {
    ctx.log.warn("replay failed", { err });
    stream.end("error");
  });
  return { status: 200, headers, body: stream.body() };
}
