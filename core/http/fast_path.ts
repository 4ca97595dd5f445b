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
import { requestTargetOf } from "./h1/request.ts";

/** A route served by the fast path. Build it once, not per request. */
export interface FastRoute {
  /** The route pattern used as the metrics label (e.g. the Hono pattern it stands for). */
  route: string;
  /** Serves the request; `requestId` is what `X-Request-Id` will carry. */
  handle(req: Request, requestId: string): Response | Promise<Response>;
}

/**
 * The path of a request-target (`/a/b?q`) or of a URL, exactly as sent: no percent-decoding and
 * dot segments kept, so a fast route sees what the client wrote and can refuse it.
 * @example
 * ```ts
 * targetPathOf("/proxy/../x?y=1"); // "/proxy/../x"
 * ```
 */
export function targetPathOf(target: string): string {
  const start = target.charCodeAt(0) === 47 ? 0 : target.indexOf("/", target.indexOf("://") + 3);
  if (start < 0) return "/";
  const q = target.indexOf("?", start);
  return target.slice(start, q < 0 ? target.length : q);
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
    const path = targetPathOf(requestTargetOf(req));
    const { status, body } = errorEnvelope(err, requestId, deps.log, path);
    res = jsonResponse(status, body);
  } finally {
    deps.metrics.inFlight.dec();
  }
  res.headers.set("X-Request-Id", requestId);
  observeRequest(deps.metrics, req.method, fast.route, res.status, start);
  return res;
}
