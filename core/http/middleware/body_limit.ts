/**
 * Refuses a request body over the limit with 413. A declared Content-Length over the limit is
 * refused before a byte is read. A body from the HTTP edge without a declared length (chunked)
 * is counted while it is read by the edge itself, which fails the handler's read with the same
 * 413; any other request (e.g. `app.request()` in a test) is counted by Hono's body limit.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit as honoBodyLimit } from "hono/body-limit";
import { bodyTooLarge } from "../h1/body.ts";
import { EdgeRequest } from "../h1/request.ts";
import type { AppEnv } from "../types.ts";

export { bodyTooLarge };

/** Options for {@linkcode bodyLimit}. */
export interface BodyLimitOptions {
  /** Largest body in bytes. */
  maxBytes: number;
  /** Paths that enforce their own limit (their handler answers the 413). */
  exempt?: (path: string) => boolean;
}

/**
 * Body limit middleware.
 * @throws {HttpError} 413 when the body is over the limit
 * @example
 * ```ts
 * app.use("*", bodyLimit({ maxBytes: 1024 * 1024 }));
 * ```
 */
export function bodyLimit(opts: BodyLimitOptions): MiddlewareHandler<AppEnv> {
  const counted = honoBodyLimit({
    maxSize: opts.maxBytes,
    onError: () => {
      throw bodyTooLarge(opts.maxBytes);
    },
  });
  return (c, next) => {
    if (opts.exempt?.(c.req.path)) return next();
    if (!(c.req.raw instanceof EdgeRequest)) return counted(c, next);
    const declared = c.req.header("content-length");
    if (declared !== undefined && Number(declared) > opts.maxBytes) {
      throw bodyTooLarge(opts.maxBytes);
    }
    return next();
  };
}
