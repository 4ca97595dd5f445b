/**
 * The relay's traffic on the raw path (no fetch Request or Response, no router): `POST
 * /publish`, `GET /subscribe` and, with CORS, preflights, each answering what the router would
 * (its body limit, Hono's `cors`, the mesh authentication, the route), so a relay serving its
 * normal traffic never loads Hono. The router still serves everything else (HEAD, a GET with a
 * body, percent-escaped paths, `/topics`, unknown routes and methods).
 * @module
 */
import { HttpError, UnavailableError } from "../errors/mod.ts";
import type { Principal } from "../auth/mod.ts";
import {
  bodyTooLarge,
  DEFAULT_MAX_BODY_BYTES,
  errorEnvelope,
  type HeaderPairs,
  queryOf,
  type RawRequest,
  type RawResponse,
  type RawRoute,
  type RequestHead,
  targetPathOf,
  withSafeFields,
} from "../http/mod.ts";
import { requireTopics } from "./auth.ts";
import { corsFields, preflightFields, refuseForeignOrigin } from "./cors.ts";
import {
  idempotencyKeyOf,
  invalidJson,
  type PublishAnswer,
  publishEvent,
  publishInput,
  publishText,
} from "./publish.ts";
import type { RelayContext } from "./routes.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "./server.ts";
import { subscribeAnswer } from "./subscribe.ts";

/** A route's own part: the request once its body limit and its caller were checked. */
type Serve = (
  req: RawRequest,
  requestId: string,
  principal?: Principal,
) => RawResponse | Promise<RawResponse>;

/** What the router's auth middleware adds to a 401 of the mesh authentication. */
const CHALLENGE: [string, string] = ["WWW-Authenticate", 'Bearer realm="iatp"'];

/** The JSON envelope of `err` with `fields`, as the router's error handler answers it. */
function refusal(
  ctx: RelayContext,
  req: RawRequest,
  requestId: string,
  err: unknown,
  fields: HeaderPairs,
): RawResponse {
  const { status, body } = errorEnvelope(err, requestId, ctx.log, targetPathOf(req.target));
  const headers: HeaderPairs = [["content-type", "application/json"], ...fields];
  if (err instanceof UnavailableError) {
    headers.push(["Retry-After", String(err.retryAfterSeconds)]);
  }
  return { status, headers, body: JSON.stringify(body) };
}

/**
 * `serve` behind the router's middlewares, in their order: a declared body over `max_body_bytes`
 * is the bare 413 (the body limit runs before CORS); then the CORS fields on every answer,
 * refusals included; the mesh authentication (401 with its challenge); then the route. With
 * authentication off and a route that answers at once, the answer comes without a promise.
 */
function guarded(ctx: RelayContext, origins: readonly string[], serve: Serve): RawRoute["serve"] {
  const maxBody = ctx.opts.edge?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const auth = ctx.auth;
  return (req, requestId) => {
    const declared = req.header("content-length");
    if (declared !== null && Number(declared) > maxBody) throw bodyTooLarge(maxBody);
    const cors = origins.length > 0 ? corsFields(origins, req.header("origin")) : [];
    if (!auth.enabled) return answer(ctx, req, requestId, serve, undefined, cors);
    return auth.authenticateHead(req.target, req.header("authorization")).then(
      (principal) => answer(ctx, req, requestId, serve, principal, cors),
      (err) => {
        const challenge = err instanceof HttpError && err.status === 401;
        return withFields(refusal(ctx, req, requestId, err, challenge ? [CHALLENGE] : []), cors);
      },
    );
  };
}

/** The route's answer (or the envelope of its error) with the safe and the CORS fields. */
function answer(
  ctx: RelayContext,
  req: RawRequest,
  requestId: string,
  serve: Serve,
  principal: Principal | undefined,
  cors: HeaderPairs,
): RawResponse | Promise<RawResponse> {
  let res: RawResponse | Promise<RawResponse>;
  try {
    res = serve(req, requestId, principal);
  } catch (err) {
    return withFields(refusal(ctx, req, requestId, err, []), cors);
  }
  if (!(res instanceof Promise)) return withFields(res, cors);
  return res.then(
    (r) => withFields(r, cors),
    (err) => withFields(refusal(ctx, req, requestId, err, []), cors),
  );
}

/** `res` with the safe fields (safe_fields.ts) and `fields` (the CORS ones) added. */
function withFields(res: RawResponse, fields: HeaderPairs): RawResponse {
  withSafeFields(res.headers);
  if (fields.length > 0) res.headers.push(...fields);
  return res;
}

/** `POST /publish`: the same checks, answers and envelope as the Hono route. */
function publishServe(ctx: RelayContext, origins: readonly string[]): Serve {
  const compat = ctx.opts.compat ?? "upstream";
  const maxBody = ctx.opts.edge?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxPayload = ctx.opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  /** The answer to a publish of `bytes`: at once with a local store. */
  const publish = (
    bytes: Uint8Array,
    requestId: string,
    principal: Principal | undefined,
    key: string | undefined,
  ): RawResponse | Promise<RawResponse> => {
    let body: unknown;
    try {
      body = JSON.parse(publishText(bytes));
    } catch (err) {
      throw invalidJson(compat, err);
    }
    const { topic, json } = publishInput(body, maxPayload, compat);
    requireTopics(principal, "publish", [topic]);
    const a = publishEvent(ctx, topic, json, principal?.id, requestId, key);
    return a instanceof Promise ? a.then(publishAnswer) : publishAnswer(a);
  };
  return (req, requestId, principal) => {
    refuseForeignOrigin(origins, req.header("origin"));
    const key = idempotencyKeyOf(req.header("idempotency-key"), compat);
    // A body already buffered is published at once; else once it arrived.
    const now = req.bodyNow?.(maxBody);
    if (now !== undefined) return publish(now, requestId, principal, key);
    return req.body(maxBody).then((bytes) => publish(bytes, requestId, principal, key));
  };
}

function publishAnswer(a: PublishAnswer): RawResponse {
  return {
    status: a.status,
    headers: [["content-type", "application/json"], ...a.headers],
    body: JSON.stringify(a.body),
  };
}

/** `GET /subscribe`: the topics and `since` read from the query as the router reads them. */
function subscribeServe(ctx: RelayContext): Serve {
  return (req, requestId, principal) => {
    const query = queryOf(req.target);
    return subscribeAnswer(ctx, {
      topics: query.get("topic") ?? [],
      start: req.header("last-event-id") ?? query.get("since")?.[0],
      principal,
      head: false,
      requestId,
    });
  };
}

/** A CORS preflight (any path): 204 with the allowed methods and fields. */
function preflightRoute(origins: readonly string[]): RawRoute {
  return {
    // As the router labels it: no route of its own matched.
    route: "unmatched",
    serve: (req) => ({
      status: 204,
      headers: preflightFields(origins, req.header("origin")),
      body: null,
    }),
  };
}

/**
 * The relay's raw routes for `createServer`'s `rawRoutes`: `POST /publish`, `GET /subscribe`
 * without a body, and with CORS origins an `OPTIONS` without a body on any path.
 */
export function relayRawRoutes(
  ctx: RelayContext,
  origins: readonly string[],
): (method: string, path: string, head: RequestHead) => RawRoute | undefined {
  const publish: RawRoute = {
    route: "/publish",
    serve: guarded(ctx, origins, publishServe(ctx, origins)),
  };
  const subscribe: RawRoute = {
    route: "/subscribe",
    serve: guarded(ctx, origins, subscribeServe(ctx)),
  };
  const preflight = origins.length > 0 ? preflightRoute(origins) : undefined;
  return (method, path, head) => {
    if (method === "POST") return path === "/publish" ? publish : undefined;
    if (head.contentLength !== 0) return undefined;
    if (method === "GET") return path === "/subscribe" ? subscribe : undefined;
    return method === "OPTIONS" ? preflight : undefined;
  };
}
