/**
 * The HTTP surface every service uses: the server factory (Hono routes served by a strict
 * HTTP/1.1 edge with timeouts, a connection cap and a graceful drain), its middlewares, the
 * JSON error envelope, the bounded body reader and the edge's configuration.
 *
 * @example
 * ```ts
 * const server = createServer({ service: "relay", host: "127.0.0.1", port: 0, log });
 * server.app.get("/hello", (c) => c.json({ hi: true }));
 * const svc = await server.listen();
 * await svc.close();
 * ```
 * @module
 */
export { createServer, type Server, type ServerOptions } from "./server.ts";
export type { App, AppEnv, Service } from "./types.ts";
export { type FastRoute, targetPathOf } from "./fast_path.ts";
export { requestTargetOf } from "./h1/request.ts";
export { closeOnSignal } from "./signals.ts";
export { createHttpMetrics, type HttpMetrics } from "./metrics.ts";
export { errorBody, errorResponse, jsonResponse } from "./middleware/envelope.ts";
export { SAFE_REQUEST_ID } from "./middleware/request_id.ts";
export { readBody, type ReadBodyOptions, readBodyPrefix } from "./read_body.ts";
export {
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HEADER_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADER_FIELDS,
  DEFAULT_MAX_URL_BYTES,
  type EdgeConfig,
  type EdgeOptions,
  edgeOptions,
} from "./limits.ts";
