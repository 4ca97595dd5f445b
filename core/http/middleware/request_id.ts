/**
 * Request ids: a client's `X-Request-Id` is kept when it is safe to echo, else a fresh UUID;
 * the id is set on the context (with the service logger) and on the response.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { Logger } from "../../log/mod.ts";
import type { AppEnv } from "../types.ts";
import { randomUuid } from "../../crypto/uuid/mod.ts";

/** Incoming request ids are kept only when they match this. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The client's request id when it is safe to echo, else a fresh UUID.
 * @example
 * ```ts
 * requestIdOf("abc-123"); // "abc-123"
 * requestIdOf("../etc"); // a fresh UUID
 * ```
 */
export function requestIdOf(incoming: string | null | undefined): string {
  return keepsRequestId(incoming) ? incoming : randomUuid();
}

/**
 * Whether the client's request id is kept (safe to echo); {@linkcode requestIdOf} makes one
 * otherwise.
 * @example
 * ```ts
 * keepsRequestId("abc-123"); // true
 * keepsRequestId("../etc"); // false
 * ```
 */
export function keepsRequestId(incoming: string | null | undefined): incoming is string {
  return !!incoming && SAFE_REQUEST_ID.test(incoming);
}

/**
 * Sets `requestId` and `log` on the context and `X-Request-Id` on every response (errors
 * included: Hono turns a thrown error into the response before this middleware resumes).
 * @param log the service logger handlers reach as `c.get("log")`
 * @example
 * ```ts
 * app.use("*", requestId(log));
 * ```
 */
export function requestId(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const id = requestIdOf(c.req.header("x-request-id"));
    c.set("requestId", id);
    c.set("log", log);
    await next();
    c.res.headers.set("X-Request-Id", id);
  };
}
