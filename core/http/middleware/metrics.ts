/**
 * Request metrics: a counter and a latency histogram by method, route pattern and status,
 * and the in-flight gauge. Raw routes record through {@linkcode observeRequest} too.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { HttpMetrics } from "../metrics.ts";
import type { AppEnv } from "../types.ts";

/** Methods labelled as themselves; any other is `other`, so clients cannot add series. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * Records one finished request.
 * @param start `performance.now()` when it began
 * @example
 * ```ts
 * observeRequest(metrics, "GET", "/items/:id", 200, performance.now());
 * ```
 */
export function observeRequest(
  metrics: HttpMetrics,
  method: string,
  route: string,
  status: number,
  start: number,
): void {
  const m = metrics.forRoute(KNOWN_METHODS.has(method) ? method : "other", route, status);
  m.requests.inc();
  m.duration.observe((performance.now() - start) / 1000);
}

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
