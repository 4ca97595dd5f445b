/**
 * The one JSON error envelope, `{error, request_id, ...}`, for every 4xx/5xx: thrown errors
 * (typed errors keep their status; unknown ones are logged and answered as an opaque 500),
 * 404 and 405 alike.
 * @module
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HttpError, httpStatusOf, isValidationError, UnavailableError } from "../../errors/mod.ts";
import type { Logger } from "../../log/mod.ts";
import type { AppEnv } from "../types.ts";
import { withSafeFields } from "../safe_fields.ts";

/**
 * Builds the JSON error envelope.
 * @example
 * ```ts
 * errorBody("not found", "rid-1"); // { error: "not found", request_id: "rid-1" }
 * ```
 */
export function errorBody(
  message: string,
  requestId: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { error: message, request_id: requestId, ...extra };
}

/**
 * The status and envelope body for a thrown value; unknown errors are logged with `path`.
 * @example
 * ```ts
 * errorEnvelope(new HttpError(413, "too big"), "rid", undefined, "/x").status; // 413
 * ```
 */
export function errorEnvelope(
  err: unknown,
  requestId: string,
  log: Logger | undefined,
  path: string,
): { status: number; body: Record<string, unknown> } {
  const status = httpStatusOf(err);
  let body: Record<string, unknown>;
  if (err instanceof HttpError) {
    body = errorBody(err.message, requestId, err.extra);
  } else if (isValidationError(err)) {
    body = errorBody("invalid request", requestId, {
      issues: err.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })),
    });
  } else if (status === 400) {
    body = errorBody("invalid JSON body", requestId);
  } else {
    log?.error("unhandled error", { err, path });
    body = errorBody("internal error", requestId);
  }
  return { status, body };
}

/**
 * A JSON Response for an envelope (outside Hono: the connection layer).
 * @example
 * ```ts
 * jsonResponse(404, errorBody("not found", "rid"));
 * ```
 */
export function jsonResponse(
  status: number,
  body: Record<string, unknown>,
  headers: Array<[string, string]> = [],
): Response {
  headers.push(["content-type", "application/json"]);
  return new Response(JSON.stringify(body), { status, headers: withSafeFields(headers) });
}

/** Maps a thrown value to the envelope response (the one place errors become HTTP). */
export function errorResponse(c: Context<AppEnv>, err: unknown): Response {
  const { status, body } = errorEnvelope(err, c.get("requestId") ?? "", c.get("log"), c.req.path);
  if (err instanceof UnavailableError) c.header("Retry-After", String(err.retryAfterSeconds));
  return c.json(body, status as 400);
}

/** Hono's `onError` handler: the envelope for whatever a handler threw. */
export const onError: ErrorHandler<AppEnv> = (err, c) => errorResponse(c, err);

/** Hono's `notFound` handler: a 404 envelope. */
export const notFound: NotFoundHandler<AppEnv> = (c) =>
  c.json(errorBody("not found", c.get("requestId") ?? ""), 404);
