/**
 * The answers of the routes every service has (`GET /health`, `GET /ready`, `GET /metrics`), one
 * implementation served on the raw path and by the Hono app alike.
 * @module
 */
import { HttpError } from "../errors/mod.ts";
import type { RequestHead } from "./h1/head.ts";
import type { HeaderPairs, RawResponse } from "./h1/raw.ts";
import type { HttpMetrics } from "./metrics.ts";
import { errorBody } from "./middleware/envelope.ts";
import { targetPathOf } from "./raw_route.ts";
import { withSafeFields } from "./safe_fields.ts";
import type { RawRoute } from "./raw_route.ts";

/** What the built-in routes answer from. */
export interface BuiltinSource {
  service: string;
  /** Body of `GET /health`; default `{status: "ok", service}`. */
  health?: () => Record<string, unknown>;
  /** Extra readiness condition (besides "not draining"). */
  ready?: () => boolean;
  /** The JSON snapshot at `/metrics` for a client asking for JSON and not text. */
  metricsJson?: () => Record<string, unknown>;
  /**
   * Checks a request for `/metrics` (the Prometheus text and the JSON snapshot alike) before
   * either is built (see `ServerOptions`); a thrown `HttpError` is the answer.
   */
  metricsCheck?: (target: string, authorization: string | null) => void | Promise<void>;
  /** The Prometheus text at `/metrics`, given the server's own registry text. */
  metricsText?: (own: () => Promise<string>) => Promise<string>;
}

/** An answer as status, JSON value or text, and its content type. */
export interface BuiltinAnswer {
  status: number;
  /** A JSON value (sent as `application/json`) or text sent as `contentType`. */
  json?: Record<string, unknown>;
  text?: string;
  contentType?: string;
}

/** `GET /health`. */
export function healthAnswer(src: BuiltinSource): BuiltinAnswer {
  return { status: 200, json: src.health?.() ?? { status: "ok", service: src.service } };
}

/** `GET /ready`: 503 while draining or when the service says it is not ready. */
export function readyAnswer(src: BuiltinSource, draining: boolean): BuiltinAnswer {
  const ok = !draining && (src.ready?.() ?? true);
  return { status: ok ? 200 : 503, json: { ready: ok, ...(draining ? { draining: true } : {}) } };
}

/** What `GET /metrics` answers from: the request's `Accept`, target and `Authorization`. */
export interface MetricsRequest {
  accept: string | null | undefined;
  /** The request-target (raw path) or the URL (Hono). */
  target: string;
  authorization: string | null;
}

/** The challenge sent with a 401 of a credential check (as core/auth's middleware sends it). */
export const BEARER_CHALLENGE = 'Bearer realm="iatp"';

/**
 * `GET /metrics`: Prometheus text, or the JSON snapshot to a client that asks for JSON only,
 * once `metricsCheck` (if any) let the request through.
 * @throws {HttpError} what `metricsCheck` throws (401, 403, 503)
 */
export async function metricsAnswer(
  src: BuiltinSource,
  metrics: HttpMetrics,
  req: MetricsRequest,
): Promise<BuiltinAnswer> {
  await src.metricsCheck?.(req.target, req.authorization);
  if (src.metricsJson && wantsJson(req.accept)) return { status: 200, json: src.metricsJson() };
  const own = () => metrics.registry.metrics();
  const text = src.metricsText ? await src.metricsText(own) : await own();
  return { status: 200, text, contentType: metrics.registry.contentType };
}

/**
 * True when an Accept header asks for JSON and not for text (Prometheus scrapers ask text).
 * @example
 * ```ts
 * wantsJson("application/json"); // true
 * wantsJson("text/plain, application/json"); // false
 * ```
 */
export function wantsJson(accept: string | null | undefined): boolean {
  if (!accept) return false;
  const types = accept.split(",").map((t) => t.split(";")[0].trim().toLowerCase());
  return types.includes("application/json") && !types.some((t) => t.startsWith("text/"));
}

/**
 * A built-in answer on the raw path, with the header fields Hono's `c.json`/`c.body` give and
 * the safe fields the app adds.
 */
function rawAnswer(a: BuiltinAnswer): RawResponse {
  const headers: HeaderPairs = withSafeFields([]);
  if (a.json !== undefined) {
    headers.push(["content-type", "application/json"]);
    return { status: a.status, headers, body: JSON.stringify(a.json) };
  }
  if (a.contentType) headers.push(["content-type", a.contentType]);
  return { status: a.status, headers, body: a.text ?? "" };
}

/**
 * The built-in routes on the raw path: `GET` of `/health`, `/ready` or `/metrics` without a
 * body. Anything else (HEAD, another method, a body, a percent-escaped path) is left to the Hono
 * app, which serves the same routes with the same answers.
 */
export function builtinRawRoutes(
  src: BuiltinSource,
  metrics: HttpMetrics,
  draining: () => boolean,
): (head: RequestHead) => RawRoute | undefined {
  const routes = new Map<string, RawRoute>([
    ["/health", { route: "/health", serve: () => rawAnswer(healthAnswer(src)) }],
    ["/ready", { route: "/ready", serve: () => rawAnswer(readyAnswer(src, draining())) }],
    ["/metrics", {
      route: "/metrics",
      serve: async (req, requestId) => {
        const m = { accept: req.header("accept"), target: req.target };
        try {
          return rawAnswer(
            await metricsAnswer(src, metrics, { ...m, authorization: req.header("authorization") }),
          );
        } catch (err) {
          // A refused credential gets its challenge, as on every route behind core/auth.
          if (!(err instanceof HttpError) || err.status !== 401) throw err;
          return {
            status: 401,
            headers: withSafeFields([
              ["content-type", "application/json"],
              ["WWW-Authenticate", BEARER_CHALLENGE],
            ]),
            body: JSON.stringify(errorBody(err.message, requestId, err.extra)),
          };
        }
      },
    }],
  ]);
  return (head) => {
    if (head.method !== "GET" || head.contentLength !== 0) return undefined;
    return routes.get(targetPathOf(head.target));
  };
}
