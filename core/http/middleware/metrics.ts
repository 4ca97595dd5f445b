/**
 * Request metrics: a counter and a latency histogram by method, route pattern and status,
 * and the in-flight gauge, recorded with `observeRequest` (core/http/metrics.ts) as raw routes do.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { type HttpMetrics, observeRequest } from "../metrics.ts";
import type { AppEnv } from "../types.ts";

/**
 * The metrics middleware; requests that match no route are labelled `unmatched`.
 * @example
 * ```ts
 * app.use("*", requestMetrics(createHttpMetrics("relay")));
 * ```
 */
export function requestMetrics(metrics: HttpMetrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const start = performance.now();
    metrics.inFlight.inc();
    try {
      await next();
    } finally {
      metrics.inFlight.dec();
      observeRequest(metrics, c.req.method, routeOf(c), c.res.status, start);
    }
  };
}

/** The matched route pattern, or `unmatched`. */
function routeOf(c: Context<AppEnv>): string {
  try {
    const path = routePath(c, -1);
    return path && path !== "*" && path !== "/*" ? path : "unmatched";
  } catch {
    return "unmatched";
  }
}
