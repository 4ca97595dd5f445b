/**
 * A service's Hono app: the safe fields (safe_fields.ts), request id, metrics, body limit,
 * trailing-slash redirect, 405 and error envelope middlewares and the built-in routes. The server
 * factory imports it with the first request the raw path leaves to Hono, so a service that has
 * only answered those routes has not loaded Hono.
 * @module
 */
import { Hono } from "hono";
import { methodNotAllowed } from "hono/method-not-allowed";
import type { Logger } from "../log/mod.ts";
import { HttpError } from "../errors/mod.ts";
import {
  BEARER_CHALLENGE,
  type BuiltinSource,
  healthAnswer,
  metricsAnswer,
  readyAnswer,
} from "./builtins.ts";
import type { HttpMetrics } from "./metrics.ts";
import { bodyLimit } from "./middleware/body_limit.ts";
import { errorBody, notFound, onError } from "./middleware/envelope.ts";
import { requestMetrics } from "./middleware/metrics.ts";
import { requestId } from "./middleware/request_id.ts";
import { redirectTrailingSlash } from "./middleware/trailing_slash.ts";
import { addSafeFields } from "./safe_fields.ts";
import type { App, AppEnv } from "./types.ts";

/** What the app is built from. */
export interface AppSource extends BuiltinSource {
  log: Logger;
  metrics: HttpMetrics;
  maxBodyBytes: number;
  bodyLimitExempt?: (path: string) => boolean;
  draining: () => boolean;
}

/** The app every service's routes are registered on (middlewares and built-in routes first). */
export function buildApp(src: AppSource): App {
  const app: App = new Hono<AppEnv>();
  // Outermost: every answer made here (errors, 404, 405, redirects included) gets the fields.
  app.use("*", async (c, next) => {
    await next();
    if (c.get("passedOn") === true) return;
    const res = addSafeFields(c.res);
    if (res !== c.res) c.res = res;
  });
  app.use("*", requestId(src.log));
  app.use("*", requestMetrics(src.metrics));
  app.use("*", bodyLimit({ maxBytes: src.maxBodyBytes, exempt: src.bodyLimitExempt }));
  app.use("*", redirectTrailingSlash(app));
  app.use(
    "*",
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        c.json(errorBody("method not allowed", c.get("requestId") ?? ""), 405, {
          Allow: methods.join(", "),
        }),
    }),
  );
  app.get("/health", (c) => c.json(healthAnswer(src).json));
  app.get("/ready", (c) => {
    const a = readyAnswer(src, src.draining());
    return c.json(a.json, a.status === 200 ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    const req = {
      accept: c.req.header("accept"),
      target: c.req.url,
      authorization: c.req.header("authorization") ?? null,
    };
    const a = await metricsAnswer(src, src.metrics, req).catch((err) => {
      if (err instanceof HttpError && err.status === 401) {
        c.header("WWW-Authenticate", BEARER_CHALLENGE);
      }
      throw err;
    });
    if (a.json !== undefined) return c.json(a.json);
    return c.body(a.text ?? "", 200, a.contentType ? { "content-type": a.contentType } : {});
  });
  app.notFound(notFound);
  app.onError(onError);
  return app;
}
