/**
 * `POST /publish`: checking the body, storing the event and fanning it out, shared by the Hono
 * route and the raw-path route (raw_routes.ts).
 * @module
 */
import { type CompatMode, type FieldIssue, invalidInput } from "../compat/mod.ts";
import { HttpError, UnavailableError } from "../errors/mod.ts";
import { errorBody } from "../http/mod.ts";
import { isEngineOutage } from "../nats/mod.ts";
import { isTopicName } from "../topic/mod.ts";
import { StreamRefusedError } from "./js_refusal.ts";
import { PublishBusyError } from "./js_writer.ts";
import { formatPosition } from "./position.ts";
import { messageFrame } from "./replay.ts";
import type { RelayContext } from "./routes.ts";
import { isRemoteStore, type RelayStore, type RemoteRelayStore, TopicLimitError } from "./store.ts";
import { randomUuid } from "../crypto/uuid/mod.ts";
import {
  IDEMPOTENCY_HEADER,
  IdempotencyConflictError,
  isIdempotencyKey,
  keyedEventId,
  publishDigest,
  REPLAYED_HEADER,
  type Stored,
} from "./idempotency.ts";

/** Seconds a client is told to wait after a 503 for an engine outage. */
export const RETRY_AFTER_SECONDS = 1;

/** The refusal of invalid input: iatp's 400 (with `extra`), or FastAPI's 422 naming `issue`. */
export function refuse(
  compat: CompatMode,
  message: string,
  issue: FieldIssue,
  extra: Record<string, unknown> = {},
  where: "body" | "query" | "header" = "body",
): HttpError {
  return compat === "upstream"
    ? invalidInput(compat, message, [issue], where)
    : new HttpError(400, message, extra);
}

/** The refusal of a body that is not JSON. */
export function invalidJson(compat: CompatMode, cause: unknown): HttpError {
  const e = refuse(compat, "invalid JSON body", {
    type: "json_invalid",
    loc: [],
    msg: "JSON decode error",
  }, { expected: '{"topic": "...", "payload": {}}' });
  return new HttpError(e.status, e.message, e.extra, { cause });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The topic and the serialized payload of a parsed publish body.
 * @throws {HttpError} 400 (422 under `compat: upstream`) for a body that is not `{topic, payload}`
 * with a valid topic name and an object payload; 400 for a payload over `maxPayload` bytes
 */
export function publishInput(
  body: unknown,
  maxPayload: number,
  compat: CompatMode,
): { topic: string; json: string } {
  if (!isObject(body)) {
    throw refuse(compat, "body must be a JSON object {topic, payload}", {
      type: "model_attributes_type",
      loc: [],
      msg: "Input should be a valid dictionary",
    });
  }
  const { topic, payload } = body;
  if (!isTopicName(topic)) {
    const missing = topic === undefined;
    throw refuse(compat, "invalid topic name", {
      type: missing ? "missing" : typeof topic === "string" ? "value_error" : "string_type",
      loc: ["topic"],
      msg: missing ? "Field required" : "a name matching ^[A-Za-z0-9._:-]{1,128}$",
    }, { expected: "a name matching ^[A-Za-z0-9._:-]{1,128}$" });
  }
  if (!isObject(payload)) {
    throw refuse(compat, "payload must be a JSON object", {
      type: payload === undefined ? "missing" : "dict_type",
      loc: ["payload"],
      msg: payload === undefined ? "Field required" : "Input should be a valid dictionary",
    });
  }
  const json = JSON.stringify(payload);
  // A number past a double's range (1e400) parses as Infinity, which JSON.stringify writes as
  // null: refused rather than stored altered. Only a payload written with a null can hold one.
  if (json.includes("null") && holdsNonFinite(payload)) {
    throw refuse(compat, "payload holds a number out of range", {
      type: "finite_number",
      loc: ["payload"],
      msg: "Input should be a finite number",
    }, { expected: "numbers a double holds (about ±1.8e308)" });
  }
  // Cheap bound first: UTF-8 is at most 3 bytes per UTF-16 unit.
  if (json.length * 3 > maxPayload && new TextEncoder().encode(json).length > maxPayload) {
    throw new HttpError(400, `payload exceeds ${maxPayload} bytes`, { limit_bytes: maxPayload });
  }
  return { topic, json };
}

/** True when `value` holds a number that is not finite, at any depth (walked without recursion). */
function holdsNonFinite(value: unknown): boolean {
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const v = todo.pop();
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return true;
    } else if (Array.isArray(v)) {
      for (const x of v) todo.push(x);
    } else if (typeof v === "object" && v !== null) {
      for (const x of Object.values(v)) todo.push(x);
    }
  }
  return false;
}

const utf8 = new TextDecoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A publish body's text.
 * @throws {TypeError} for bytes that are not UTF-8 (not stored as U+FFFD): a byte that is not
 * decodes as U+FFFD, so only a body whose text holds one is decoded again, strictly (a strict
 * decoding of every body cost about a third of its decoding, parsing and serializing)
 */
export function publishText(bytes: Uint8Array): string {
  const text = utf8.decode(bytes);
  if (text.includes("\uFFFD")) strictUtf8.decode(bytes);
  return text;
}

/**
 * The `Idempotency-Key` header of a publish, checked (absent: `undefined`).
 * @throws {HttpError} 400 (422 under `compat: upstream`) for a key that is not 1 to 128 visible
 * ASCII characters
 */
export function idempotencyKeyOf(value: string | null | undefined, compat: CompatMode) {
  if (value === null || value === undefined) return undefined;
  if (isIdempotencyKey(value)) return value;
  throw refuse(
    compat,
    `invalid ${IDEMPOTENCY_HEADER} header`,
    {
      type: "string_pattern_mismatch",
      loc: [IDEMPOTENCY_HEADER.toLowerCase()],
      msg: "1 to 128 visible ASCII characters",
    },
    { header: IDEMPOTENCY_HEADER, expected: "1 to 128 visible ASCII characters" },
    "header",
  );
}

/** The answer to a key used before for another topic or payload: 422, naming the header. */
export function idempotencyConflict(err: IdempotencyConflictError): HttpError {
  return new HttpError(422, err.message, { header: IDEMPOTENCY_HEADER }, { cause: err });
}

/** What a publish answers. */
export interface PublishAnswer {
  status: number;
  body: Record<string, unknown>;
  /** Extra header fields (Retry-After on a 503). */
  headers: [string, string][];
}

/** A 503 answer with Retry-After: the engine or the store cannot take an event now. */
export function unavailable(message: string, requestId: string): PublishAnswer {
  return {
    status: 503,
    body: errorBody(message, requestId),
    headers: [["Retry-After", String(RETRY_AFTER_SECONDS)]],
  };
}

/**
 * Stores one event: in a local store (and offers it to this isolate's subscribers at once), or
 * through a remote one (whose tail brings it back to the fan-out). Resolves with its sequence.
 * A keyed publish (`digest` given: see idempotency.ts) is stored once within `duplicate_window`:
 * a retry resolves with the first one's sequence, `replayed`.
 * @throws {TopicLimitError} for one topic more than the bound; the engine's errors (outage,
 * {@linkcode PublishBusyError}) for a remote store; {UnavailableError} when the isolate's role
 * refuses it (a worker isolate too far behind); {IdempotencyConflictError} for a key used for
 * another topic or payload
 */
export async function storeEvent(
  ctx: RelayContext,
  topic: string,
  eventId: string,
  json: string,
  publisher?: string,
  digest?: string,
): Promise<Stored> {
  if (digest !== undefined) {
    ctx.keys.follow(ctx.store.epoch);
    return await ctx.keys.run(
      eventId,
      digest,
      Date.now(),
      () => storeOnce(ctx, topic, eventId, json, publisher, digest),
    );
  }
  return await storeOnce(ctx, topic, eventId, json, publisher);
}

/** {@linkcode storeEvent} without the check of the keys stored lately. */
function storeOnce(
  ctx: RelayContext,
  topic: string,
  eventId: string,
  json: string,
  publisher?: string,
  digest?: string,
): Stored | Promise<Stored> {
  const { store } = ctx;
  if (isRemoteStore(store)) {
    ctx.opts.role?.admit?.();
    return publishRemoteOnce(store, topic, eventId, json, publisher, digest);
  }
  return { seq: storeLocal(ctx, store, topic, eventId, json, publisher), replayed: false };
}

/**
 * Stores an event in a remote store: one the engine (JetStream's duplicate window) or the main
 * isolate already had is answered with its first sequence, `replayed`.
 */
async function publishRemoteOnce(
  store: RemoteRelayStore,
  topic: string,
  eventId: string,
  json: string,
  publisher: string | undefined,
  digest: string | undefined,
): Promise<Stored> {
  const nowMs = Date.now();
  if (store.publishOnce) {
    return await store.publishOnce(topic, eventId, json, nowMs, publisher, digest);
  }
  return { seq: await store.publish(topic, eventId, json, nowMs, publisher), replayed: false };
}

/** {@linkcode storeEvent} into a local store: at once, its sequence. @throws as `storeEvent` */
function storeLocal(
  ctx: RelayContext,
  store: RelayStore,
  topic: string,
  eventId: string,
  json: string,
  publisher?: string,
): number {
  ctx.opts.role?.admit?.();
  const event = store.append(topic, eventId, json, Date.now(), publisher);
  ctx.metrics.delivered.inc(ctx.hub.dispatch(topic, messageFrame(store.epoch, event)));
  ctx.opts.role?.onStored?.(event);
  return event.seq;
}

/**
 * Stores the event and fans it out (a remote store fans out from its tail), carrying the
 * authenticated caller as `publisher`; the answer: 200 (`compat: upstream`) or 201
 * `{status, event_id, seq, id}`, or 503 (Retry-After) while the engine is out of reach or the
 * store cannot write. With a local store it answers at once (no promise): the event is stored
 * and offered to the subscribers before the call returns. With an idempotency `key` the event
 * id comes from the publisher and the key, and a publish of it stored within `duplicate_window`
 * is answered as the first was, with `Idempotent-Replayed: true`, storing nothing.
 * @throws {HttpError} 507 when the publish would create one topic more than `max_topics`
 * allows, 403 more than its publisher's `max_topics_per_principal`; 422 for a key used for
 * another topic or payload
 */
export function publishEvent(
  ctx: RelayContext,
  topic: string,
  json: string,
  publisher: string | undefined,
  requestId: string,
  key?: string,
): PublishAnswer | Promise<PublishAnswer> {
  const { store } = ctx;
  if (key !== undefined) {
    const eventId = keyedEventId(publisher, key);
    const digest = publishDigest(topic, json);
    if (isRemoteStore(store) && !store.available) {
      return unavailable("the relay's engine is unreachable", requestId);
    }
    let stored: Stored | Promise<Stored>;
    ctx.keys.follow(store.epoch);
    try {
      stored = ctx.keys.run(
        eventId,
        digest,
        Date.now(),
        () => storeOnce(ctx, topic, eventId, json, publisher, digest),
      );
    } catch (err) {
      return notStored(ctx, err, publisher, requestId);
    }
    if (!(stored instanceof Promise)) return published(ctx, eventId, stored);
    return stored.then(
      (s) => published(ctx, eventId, s),
      (err) => notStored(ctx, err, publisher, requestId),
    );
  }
  const eventId = randomUuid();
  if (isRemoteStore(store)) {
    return publishRemote(ctx, store, topic, eventId, json, publisher, requestId);
  }
  let seq: number;
  try {
    seq = storeLocal(ctx, store, topic, eventId, json, publisher);
  } catch (err) {
    return notStored(ctx, err, publisher, requestId);
  }
  return published(ctx, eventId, { seq, replayed: false });
}

/** {@linkcode publishEvent} through a remote store. */
async function publishRemote(
  ctx: RelayContext,
  store: RemoteRelayStore,
  topic: string,
  eventId: string,
  json: string,
  publisher: string | undefined,
  requestId: string,
): Promise<PublishAnswer> {
  if (!store.available) return unavailable("the relay's engine is unreachable", requestId);
  let seq: number;
  try {
    ctx.opts.role?.admit?.();
    seq = await store.publish(topic, eventId, json, Date.now(), publisher);
  } catch (err) {
    return notStored(ctx, err, publisher, requestId);
  }
  return published(ctx, eventId, { seq, replayed: false });
}

/**
 * The refusal of one topic too many, naming the setting and its bound: 507 when the relay holds
 * `max_topics` topics (the relay is full); 403 when the publisher created its
 * `max_topics_per_principal` (a bound on this credential: retrying cannot help, and the relay is
 * not at fault).
 */
export function topicLimitAnswer(err: TopicLimitError): HttpError {
  const status = err.setting === "max_topics" ? 507 : 403;
  return new HttpError(status, err.message, { setting: err.setting, limit: err.limit }, {
    cause: err,
  });
}

/**
 * The answer to a publish the JetStream stream refused for good (see js_refusal.ts): its status
 * (507, 413, or 503 with Retry-After), its message and `reason` (and `stream_limit`, the stream's
 * bound it reached).
 */
export function streamRefusalAnswer(err: StreamRefusedError, requestId: string): PublishAnswer {
  const body = errorBody(err.message, requestId, err.fields);
  const headers: [string, string][] = err.status === 503
    ? [["Retry-After", String(RETRY_AFTER_SECONDS)]]
    : [];
  return { status: err.status, body, headers };
}

/**
 * The answer to a publish its store refused: 503 while the engine or the store cannot take it;
 * {@linkcode streamRefusalAnswer} when the stream refused it for good (counted and logged).
 * @throws {HttpError} {@linkcode topicLimitAnswer} when the publish would create one topic more
 * than `max_topics`, or than `max_topics_per_principal` for `publisher` (the refusal is counted
 * and logged, see refusals.ts); `err` when it is none of these
 */
function notStored(
  ctx: RelayContext,
  err: unknown,
  publisher: string | undefined,
  requestId: string,
): PublishAnswer {
  if (err instanceof TopicLimitError) {
    ctx.refusals.refused(err, publisher);
    throw topicLimitAnswer(err);
  }
  if (err instanceof IdempotencyConflictError) throw idempotencyConflict(err);
  if (err instanceof StreamRefusedError) {
    ctx.streamRefusals.refused(err);
    return streamRefusalAnswer(err, requestId);
  }
  if (err instanceof PublishBusyError || isEngineOutage(err)) {
    const n = ctx.faultLogs.unacked.due();
    if (n !== undefined) ctx.log.warn("publish not acknowledged by the engine", { err, count: n });
    return unavailable("the relay's engine did not acknowledge the event; retry", requestId);
  }
  // The store could not write it (a full or read-only disk), or with --workers the main
  // isolate's store or engine refused it: it says why; retry as above.
  if (err instanceof UnavailableError) {
    const n = ctx.faultLogs.unstored.due();
    if (n !== undefined) ctx.log.warn("publish not stored", { err: err.message, count: n });
    return unavailable(err.message, requestId);
  }
  throw err;
}

/**
 * The answer to a stored publish; one stored before (a keyed publish retried) is answered the
 * same, with `Idempotent-Replayed: true`, and is not counted again.
 */
function published(ctx: RelayContext, eventId: string, s: Stored): PublishAnswer {
  if (!s.replayed) ctx.metrics.published.inc();
  const id = formatPosition(ctx.store.epoch, s.seq);
  return {
    status: (ctx.opts.compat ?? "upstream") === "upstream" ? 200 : 201,
    body: { status: "ok", event_id: eventId, seq: s.seq, id },
    headers: s.replayed ? [[REPLAYED_HEADER, "true"]] : [],
  };
}
