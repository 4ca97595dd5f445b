/**
 * The HTTP surface every service uses: the server factory (Hono routes, loaded on first use, served by a strict
 * HTTP/1.1 edge with timeouts, a connection cap and a graceful drain), its middlewares, the
 * JSON error envelope, the bounded body reader and the edge's configuration.
 *
 * @example
 * ```ts
 * const server = createServer({ service: "relay", host: "127.0.0.1", port: 0, log });
 * server.routes((app) => app.get("/hello", (c) => c.json({ hi: true })));
 * const svc = await server.listen();
 * await svc.close();
 * ```
 * @module
 */
export { type EdgeDefaults, edgeFields, serviceFields } from "./config.ts";
export {
  type ComponentHealth,
  healthStatus,
  MAX_HEALTH_REASON_CHARS,
  serviceHealth,
} from "./health.ts";
export type { ConnectionLimits, TimeoutPhase } from "./h1/context.ts";
export type { HeadLimits, RequestHead } from "./h1/head.ts";
export type { HeaderPairs, RawRequest, RawResponse } from "./h1/raw.ts";
export { EdgeRequest, requestTargetOf } from "./h1/request.ts";
export { framedChunk, shareChunk } from "./h1/framing.ts";
export { type PushEnd, type PushSink, type PushSource, pushStream } from "./h1/push.ts";
export { concatBytes } from "./h1/bytes.ts";
export { isReadableStream } from "./h1/web_classes.ts";
export { bodyTooLarge } from "./h1/body.ts";
export {
  type Http1Options,
  type Http1Server,
  type ListenerEvents,
  serveHttp1,
} from "./h1/server.ts";
export {
  DEFAULT_MAX_BODY_BYTES,
  type EdgeConfig,
  type EdgeOptions,
  edgeOptions,
} from "./limits.ts";
export type { ConnectionMetrics, HttpMetrics, RouteMetrics } from "./metrics.ts";
export {
  rawRequestOf,
  type RawRoute,
  type RawSettle,
  responseOf,
  targetPathOf,
} from "./raw_route.ts";
export { queryOf } from "./query.ts";
export { withSafeFields } from "./safe_fields.ts";
export { errorBody, errorEnvelope, errorResponse, jsonResponse } from "./middleware/envelope.ts";
export type { ExactJsonOptions } from "./exact_json.ts";
export { readExactJson } from "./read_exact.ts";
export { type BodySource, readBody, type ReadBodyOptions, readBodyPrefix } from "./read_body.ts";
export { createServer, type RegisterRoutes, type Server, type ServerOptions } from "./server.ts";
export { closeOnSignal, STOP_SIGNALS } from "./signals.ts";
export { noteWork } from "./reclaim.ts";
export { encodeComment, encodeEvent, encodeRetry, type SseEvent, SseParser } from "./sse.ts";
export { type App, type AppEnv, type Service, withShutdown } from "./types.ts";
