/**
 * The HTTP server factory every service uses: Deno.serve + Hono with `/health`, `/ready`,
 * `/metrics`, request ids, a body limit, one JSON error envelope for every 4xx/5xx (404 and 405
 * included) and a graceful drain on close.
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
import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { routePath } from "hono/route";
import { PatternRouter } from "hono/router/pattern-router";
import { HttpError, httpStatusOf, isValidationError } from "../errors/mod.ts";
import type { Logger } from "../log/mod.ts";
import { createHttpMetrics, type HttpMetrics } from "./metrics.ts";

export { createHttpMetrics, type HttpMetrics } from "./metrics.ts";

/** A running service: where it listens and how to stop it. */
export interface Service {
  /** Base URL, e.g. `http://127.0.0.1:8005`. */
  url: string;
  /** Drains in-flight requests (up to the deadline) and stops. Idempotent. */
  close(): Promise<void>;
}

/** Hono context variables set by the factory. */
export type AppEnv = { Variables: { requestId: string; log: Logger } };

/** The Hono app type services register routes on. */
export type App = Hono<AppEnv>;

/** Default request body limit (1 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Default drain deadline on shutdown. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/** Incoming request ids are kept only when they match this. */
export const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Options for {@linkcode createServer}. */
export interface ServerOptions {
  service: string;
  host: string;
  port: number;
  log: Logger;
  maxBodyBytes?: number;
  drainTimeoutMs?: number;
  /** Body of `GET /health`; default `{status: "ok", service}`. */
  health?: () => Record<string, unknown>;
  /** Extra readiness condition (besides "not draining"). */
  ready?: () => boolean;
  /** Routes exempt from the global body limit (they enforce their own). */
  bodyLimitExempt?: (path: string) => boolean;
  /**
   * Hot routes served straight from the Deno.serve handler, before Hono's router and
   * middleware. Called with the request and its path (as Hono's router sees it; requests whose
   * path has percent-escapes always go through Hono); return the route to serve it there, or
   * undefined to let Hono serve it. Such a request still gets the request id (`X-Request-Id`),
   * the metrics (labelled with `route`) and the JSON error envelope for a thrown error; it is
   * not subject to the global body limit, so a fast route enforces its own. Register the same
   * route with Hono too, so 405s and `Allow` stay right.
   */
  fastPath?: (req: Request, path: string) => FastRoute | undefined;
}

/** A route served by {@linkcode ServerOptions.fastPath}. Build it once, not per request. */
export interface FastRoute {
  /** The route pattern used as the metrics label (e.g. the Hono pattern it stands for). */
  route: string;
  /** Serves the request; `requestId` is what `X-Request-Id` will carry. */
  handle(req: Request, requestId: string): Response | Promise<Response>;
}

/** A server being assembled: register routes on `app`, then `listen()`. */
export interface Server {
  app: App;
  metrics: HttpMetrics;
  /** Registers a hook run when draining starts (e.g. end long-lived SSE streams). */
  onDrain(fn: () => void | Promise<void>): void;
  /** True once close() began. */
  readonly draining: boolean;
  listen(): Promise<Service>;
}

/** Builds the JSON error envelope. */
export function errorBody(
  message: string,
  requestId: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { error: message, request_id: requestId, ...extra };
}

/** Maps a thrown value to the envelope response (the one place errors become HTTP). */
export function errorResponse(c: Context<AppEnv>, err: unknown): Response {
  const { status, body } = errorEnvelope(err, c.get("requestId") ?? "", c.get("log"), c.req.path);
  return c.json(body, status as 400);
}

/** The status and envelope body for a thrown value; unknown errors are logged. */
function errorEnvelope(
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

/** Creates a server; see the module example. */
export function createServer(opts: ServerOptions): Server {
  const app: App = new Hono<AppEnv>();
  const metrics = createHttpMetrics(opts.service);
  const drainHooks: Array<() => void | Promise<void>> = [];
  let draining = false;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const limiter = bodyLimit({
    maxSize: maxBody,
    onError: () => {
      throw new HttpError(413, `request body exceeds ${maxBody} bytes`, { limit_bytes: maxBody });
    },
  });

  app.use("*", async (c, next) => {
    const requestId = requestIdOf(c.req.header("x-request-id"));
    c.set("requestId", requestId);
    c.set("log", opts.log);
    const start = performance.now();
    metrics.inFlight.inc();
    try {
      await next();
    } finally {
      metrics.inFlight.dec();
      c.res.headers.set("X-Request-Id", requestId);
      const route = routeOf(c);
      const labels = { method: c.req.method, route, status: String(c.res.status) };
      metrics.requests.inc(labels);
      metrics.duration.observe(labels, (performance.now() - start) / 1000);
    }
  });
  app.use("*", (c, next) => {
    if (opts.bodyLimitExempt?.(c.req.path)) return next();
    return limiter(c, next);
  });

  app.get("/health", (c) => c.json(opts.health?.() ?? { status: "ok", service: opts.service }));
  app.get("/ready", (c) => {
    const ok = !draining && (opts.ready?.() ?? true);
    return c.json({ ready: ok, ...(draining ? { draining: true } : {}) }, ok ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    const text = await metrics.registry.metrics();
    return c.body(text, 200, { "content-type": metrics.registry.contentType });
  });

  let methodRouter: PatternRouter<string> | undefined;
  const allowedMethods = (path: string): string[] => {
    if (!methodRouter) {
      methodRouter = new PatternRouter<string>();
      for (const r of app.routes) {
        if (r.method !== "ALL") methodRouter.add(r.method, r.path, r.method);
      }
    }
    const out = new Set<string>();
    for (const m of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      if (methodRouter.match(m, path)[0].length > 0) out.add(m === "HEAD" ? "GET" : m);
    }
    return [...out];
  };

  app.notFound((c) => {
    const allow = allowedMethods(c.req.path);
    if (allow.length > 0) {
      c.header("Allow", allow.join(", "));
      return c.json(errorBody("method not allowed", c.get("requestId") ?? ""), 405);
    }
    return c.json(errorBody("not found", c.get("requestId") ?? ""), 404);
  });
  app.onError((err, c) => errorResponse(c, err));

  /** Serves a fast route with what the middleware would add: request id, metrics, envelope. */
  const serveFast = async (fast: FastRoute, req: Request): Promise<Response> => {
    const requestId = requestIdOf(req.headers.get("x-request-id"));
    const start = performance.now();
    metrics.inFlight.inc();
    let res: Response;
    try {
      res = await fast.handle(req, requestId);
    } catch (err) {
      const { status, body } = errorEnvelope(err, requestId, opts.log, plainPathOf(req.url) ?? "");
      res = new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json" },
      });
    } finally {
      metrics.inFlight.dec();
    }
    res.headers.set("X-Request-Id", requestId);
    const m = metrics.forRoute(req.method, fast.route, res.status);
    m.requests.inc();
    m.duration.observe((performance.now() - start) / 1000);
    return res;
  };
  const fastPath = opts.fastPath;
  const handler: Deno.ServeHandler = fastPath
    ? (req, info) => {
      const path = plainPathOf(req.url);
      const fast = path === undefined ? undefined : fastPath(req, path);
      return fast ? serveFast(fast, req) : app.fetch(req, info);
    }
    : app.fetch;

  const listen = async (): Promise<Service> => {
    const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
    const server = Deno.serve({
      hostname: opts.host,
      port: opts.port,
      onListen: (addr) => resolve(addr as Deno.NetAddr),
      onError: (err) => {
        opts.log.error("request failed", { err });
        return new Response(JSON.stringify({ error: "internal error" }), {
          status: 500,
          headers: { "content-type": "application/json" },
        });
      },
    }, handler);
    const addr = await listening;
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${addr.port}`;
    let closing: Promise<void> | undefined;
    const close = () =>
      closing ??= (async () => {
        draining = true;
        for (const hook of drainHooks) {
          try {
            await hook();
          } catch (err) {
            opts.log.warn("drain hook failed", { err });
          }
        }
        const deadline = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const expired = new Promise<"expired">((r) => {
          timer = setTimeout(() => r("expired"), deadline);
        });
        const result = await Promise.race([server.shutdown().then(() => "done" as const), expired]);
        clearTimeout(timer);
        if (result === "expired") {
          opts.log.warn("drain deadline exceeded; abandoning in-flight requests", {
            deadline_ms: deadline,
          });
        }
      })();
    opts.log.info("listening", { url });
    return { url, close };
  };

  return {
    app,
    metrics,
    onDrain: (fn) => drainHooks.push(fn),
    get draining() {
      return draining;
    },
    listen,
  };
}

/** The client's request id when it is safe to echo, else a fresh UUID. */
function requestIdOf(incoming: string | null | undefined): string {
  return incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
}

function routeOf(c: Context<AppEnv>): string {
  try {
    const path = routePath(c, -1);
    return path && path !== "*" && path !== "/*" ? path : "unmatched";
  } catch {
    return "unmatched";
  }
}

/**
 * Stops `services` on SIGTERM or SIGINT (drain, then exit 0). A second signal exits at once.
 * Returns a function that removes the handlers.
 */
export function closeOnSignal(
  services: Array<Pick<Service, "close">>,
  log: Logger,
  exit: (code: number) => void = Deno.exit,
): () => void {
  let stopping = false;
  const handler = () => {
    if (stopping) return exit(0);
    stopping = true;
    log.info("shutting down");
    Promise.allSettled(services.map((s) => s.close())).then(() => {
      log.info("stopped");
      exit(0);
    });
  };
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const s of signals) Deno.addSignalListener(s, handler);
  return () => {
    for (const s of signals) Deno.removeSignalListener(s, handler);
  };
}
