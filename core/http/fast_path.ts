/**
 * Hot routes served before Hono's router: the same request id, metrics and error envelope
 * the middlewares give every other route, through the same primitives.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import type { HttpMetrics } from "./metrics.ts";
import { errorEnvelope, jsonResponse } from "./middleware/envelope.ts";
import { observeRequest } from "./middleware/metrics.ts";
import { requestIdOf } from "./middleware/request_id.ts";

/** A route served by the fast path. Build it once, not per request. */
export interface FastRoute {
  /** The route pattern used as the metrics label (e.g. the Hono pattern it stands for). */
  route: string;
  /** Serves the request; `requestId` is what `X-Request-Id` will carry. */
  handle(req: Request, requestId: string): Response | Promise<Response>;
}

/** The request path as Hono's router sees it, or undefined when it has percent-escapes. */
export function plainPathOf(url: string): string | undefined {
  const start = url.indexOf("/", url.indexOf(":") + 4);
  let i = start;
  for (; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 37) return undefined; // '%': Hono decodes; leave such paths to it
    if (c === 63) break; // '?'
  }
  return url.slice(start, i);
}

/**
 * Serves `req` on `fast` with a request id, metrics (labelled with `fast.route`) and the JSON
 * envelope for a thrown error.
 */
export async function serveFast(
  fast: FastRoute,
  req: Request,
  deps: { metrics: HttpMetrics; log: Logger },
): Promise<Response> {
  const requestId = requestIdOf(req.headers.get("x-request-id"));
  const start = performance.now();
  deps.metrics.inFlight.inc();
  let res: Response;
  try {
    res = await fast.handle(req, requestId);
  } catch (err) {
    const path = plainPathOf(req.url) ?? "";
    const { status, body } = errorEnvelope(err, requestId, deps.log, path);
    res = jsonResponse(status, body);
  } finally {
    deps.metrics.inFlight.dec();
  }
  res.headers.set("X-Request-Id", requestId);
  observeRequest(deps.metrics, req.method, fast.route, res.status, start);
  return res;
}
