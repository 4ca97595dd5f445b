/**
 * The server factory every service uses: `/health`, `/ready` and `/metrics` on the raw path, and
 * a Hono app (app.ts: the request id, metrics, body limit, 405 and error envelope middlewares)
 * for every other route, imported with the first request that needs it; served by the strict
 * HTTP/1.1 edge (h1/) with its timeouts and connection cap, and a graceful drain on close.
 * @module
 */
import { onceUntilFailure } from "../async/mod.ts";
import { lateImport, readTextWithin } from "../config/mod.ts";
import { errorMessage, type HttpError, UsageError } from "../errors/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { RequestHead } from "./h1/head.ts";
import type { RawHandler } from "./h1/raw.ts";
import { type Http1Options, serveHttp1 } from "./h1/server.ts";
import {
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HEADER_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADER_FIELDS,
  DEFAULT_MAX_URL_BYTES,
  type EdgeOptions,
} from "./limits.ts";
import { createHttpMetrics, type HttpMetrics } from "./metrics.ts";
import { rawHandler, type RawRoute, targetPathOf } from "./raw_route.ts";
import {
  DEFAULT_IDLE_RECLAIM_MS,
  noteWork,
  registerReclaimMetrics,
  startReclaim,
} from "./reclaim.ts";
import { builtinRawRoutes } from "./builtins.ts";
import { guardsHost, MISDIRECTED_ROUTE, namesForeignHost } from "./host_guard.ts";
import { errorBody, errorEnvelope, jsonResponse } from "./middleware/envelope.ts";
import { requestIdOf } from "./middleware/request_id.ts";
import type { App, Service } from "./types.ts";

/** Options for {@linkcode createServer}. */
export interface ServerOptions extends EdgeOptions {
  service: string;
  host: string;
  port: number;
  log: Logger;
  /**
   * Serve requests naming any host on a loopback listener. Set it when the service checks
   * credentials (`auth_keys` or tokens configured) or was started with `--insecure`. Without
   * it a service listening on loopback (`127.0.0.0/8`, `::1`, `localhost`) runs open there, and
   * the edge refuses (421) every request whose `Host` (or absolute-form authority) is not a
   * loopback name or address, before any route runs, the built-in ones included: a page whose
   * name re-resolves to 127.0.0.1 (DNS rebinding) names its own host (host_guard.ts).
   */
  anyHost?: boolean;
  /** Body of `GET /health`; default `{status: "ok", service}`. */
  health?: () => Record<string, unknown>;
  /** Extra readiness condition (besides "not draining"). */
  ready?: () => boolean;
  /**
   * A JSON snapshot served at `/metrics` to a client that asks for `application/json` and not
   * for text (the TryDirect status agent's metrics snapshot); Prometheus text stays the default.
   */
  metricsJson?: () => Record<string, unknown>;
  /**
   * Checks a request for `/metrics` (the Prometheus text and the `metricsJson` snapshot alike)
   * before either is built, given its request-target (or URL) and `Authorization` field: a
   * service whose metrics need a credential checks it here, since the built-in routes come before
   * every middleware a service registers. A thrown `HttpError` is the answer (a 401 with
   * `WWW-Authenticate: Bearer realm="iatp"`). `/health` and `/ready` are never checked.
   */
  metricsCheck?: (target: string, authorization: string | null) => void | Promise<void>;
  /** Routes exempt from the declared-length body check (they answer their own 413). */
  bodyLimitExempt?: (path: string) => boolean;
  /**
   * Hot routes served on the raw path (no fetch Request or Response; see `RawRoute`). Called
   * with the method and the path exactly as the client sent it (no percent-decoding, dot
   * segments kept: the raw route refuses what it cannot serve), and the whole parsed head (its
   * declared body length, say); return the route to serve the
   * request there, or undefined to let Hono serve it. Such a request still gets the request id
   * (`X-Request-Id`), the metrics (labelled with `route`), the JSON error envelope for a thrown
   * error, and the connection layer's framing, bounds and deadlines; it skips the body limit
   * middleware, so a raw route answers its own 413. Register the same route with Hono too, so
   * 405s and `Allow` stay right.
   */
  rawRoutes?: (method: string, path: string, head: RequestHead) => RawRoute | undefined;
  /**
   * Listens with `SO_REUSEPORT`, so several isolates of one service accept on the same port
   * (`--workers`); the kernel spreads connections over them.
   */
  reusePort?: boolean;
  /**
   * With `reusePort`, the first isolate of the service to listen: it first makes sure no other
   * socket holds the port, so a second process on the same port (which `SO_REUSEPORT` would let
   * share it, the kernel spreading connections over both) is refused as a port in use.
   */
  claimPort?: boolean;
  /**
   * Counts open connections for `max_connections` in this SharedArrayBuffer-backed slot (`[0]`),
   * shared by every isolate of the service (`--workers`); default: this server's own count.
   */
  sharedConnections?: Int32Array;
  /**
   * The Prometheus text served at `/metrics`, given this server's own registry text (with
   * `--workers`: the totals over every isolate). Default: the own text.
   */
  metricsText?: (own: () => Promise<string>) => Promise<string>;
}

/** Registers a service's routes and middlewares on its Hono app. */
export type RegisterRoutes = (app: App) => void | Promise<void>;

/** A server being assembled: register routes with `routes()`, then `listen()`. */
export interface Server {
  /**
   * Registers routes and middlewares on the Hono app, in call order after the factory's own.
   * The app (and Hono) is loaded with the first request the raw path leaves to it, and `register`
   * runs then; keep fallible setup out of it, at start.
   */
  routes(register: RegisterRoutes): void;
  /**
   * The Hono app with every route registered so far, loading it now (e.g. for `app.request()`
   * in process); routes registered later apply at once.
   */
  loadApp(): Promise<App>;
  metrics: HttpMetrics;
  /** Registers a hook run when draining starts (e.g. end long-lived SSE streams). */
  onDrain(fn: () => void | Promise<void>): void;
  /** True once close() began. */
  readonly draining: boolean;
  /**
   * Starts listening.
   * @throws {Deno.errors.AddrInUse} when the port is taken; {UsageError} for unreadable TLS files
   */
  listen(): Promise<Service>;
}

/**
 * Creates a server.
 * @example
 * ```ts
 * const server = createServer({ service: "relay", host: "127.0.0.1", port: 0, log });
 * server.routes((app) => app.get("/hello", (c) => c.json({ hi: true })));
 * const svc = await server.listen();
 * await svc.close();
 * ```
 */
export function createServer(opts: ServerOptions): Server {
  const metrics = createHttpMetrics(opts.service);
  registerReclaimMetrics(metrics.registry);
  const drainHooks: Array<() => void | Promise<void>> = [];
  let draining = false;
  const app = lazyApp(opts, metrics, () => draining);
  const handle = handlerOf(app.load, opts);
  const rawRoute = rawRouterOf(opts, metrics, () => draining);
  return {
    routes: app.register,
    loadApp: app.load,
    metrics,
    onDrain: (fn) => drainHooks.push(fn),
    get draining() {
      return draining;
    },
    listen: () =>
      listen(opts, metrics, { handle, rawRoute }, async () => {
        draining = true;
        for (const hook of drainHooks) {
          try {
            await hook();
          } catch (err) {
            opts.log.warn("drain hook failed", { err });
          }
        }
      }),
  };
}

/**
 * The Hono app, built with the first `load()` (a failed build is retried by the next one), with
 * every registration so far applied in order; later ones apply at once once it is built.
 */
function lazyApp(opts: ServerOptions, metrics: HttpMetrics, draining: () => boolean) {
  const pending: RegisterRoutes[] = [];
  let built: App | undefined;
  const loading = onceUntilFailure(() => build());
  const build = async (): Promise<App> => {
    // By a computed specifier: Deno reads the registry data of the npm packages a string-literal
    // `import()` reaches (hono) while it builds the graph at start.
    const { buildApp } = await lateImport<typeof import("./app.ts")>("./app.ts", import.meta.url);
    const app = buildApp({
      ...opts,
      metrics,
      maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      draining,
    });
    for (const register of pending) await register(app);
    return built = app;
  };
  return {
    register(register: RegisterRoutes): void {
      if (!built) pending.push(register);
      else {
        Promise.resolve(register(built)).catch((err) =>
          opts.log.error("registering routes failed", { err })
        );
      }
    },
    load(): Promise<App> {
      if (built) return Promise.resolve(built);
      return loading();
    },
  };
}

/** The request handler: Hono; never rejects. */
function handlerOf(
  app: () => Promise<App>,
  opts: ServerOptions,
): (req: Request) => Promise<Response> {
  return async (req) => {
    try {
      return await (await app()).fetch(req);
    } catch (err) {
      // Hono answers errors itself; this is a last resort (e.g. a throwing middleware hook).
      const { status, body } = errorEnvelope(err, requestIdOf(null), opts.log, "");
      return jsonResponse(status, body);
    }
  };
}

/** Picks the raw-path handler of a request head, each route wrapped once. */
function rawRouterOf(
  opts: ServerOptions,
  metrics: HttpMetrics,
  draining: () => boolean,
): (head: RequestHead) => RawHandler | undefined {
  const routes = opts.rawRoutes;
  // The app's built-in routes come before any route or middleware a service registers, so
  // none of those ever applied to them: the raw path answers them the same.
  const builtins = builtinRawRoutes(opts, metrics, draining);
  const wrapped = new Map<RawRoute, RawHandler>();
  const deps = { metrics, log: opts.log };
  // Open on loopback: only requests naming a loopback host are served (DNS rebinding).
  const guard = guardsHost(opts.host, opts.anyHost === true);
  return (head) => {
    if (guard && namesForeignHost(head)) return rawHandlerOf(MISDIRECTED_ROUTE);
    // Every request the edge takes passes here once. Work for the idle reclaim is every one but
    // the built-in probes (`/health`, `/ready`, `/metrics`): a scrape or a liveness check every
    // few seconds must not hold the heap a burst of traffic grew.
    let route = builtins(head);
    if (!route) {
      noteWork();
      route = routes?.(head.method, targetPathOf(head.target), head);
    }
    if (!route) return undefined;
    return rawHandlerOf(route);
  };
  function rawHandlerOf(route: RawRoute): RawHandler {
    let handler = wrapped.get(route);
    if (!handler) wrapped.set(route, handler = rawHandler(route, deps));
    return handler;
  }
}

async function listen(
  opts: ServerOptions,
  metrics: HttpMetrics,
  handlers: Pick<Http1Options, "handle" | "rawRoute">,
  startDrain: () => Promise<void>,
): Promise<Service> {
  const tls = await readTls(opts);
  const server = listenOrExplain(tls, () =>
    serveHttp1({
      hostname: opts.host,
      port: opts.port,
      reusePort: opts.reusePort ?? false,
      claimPort: opts.claimPort ?? false,
      tls,
      limits: {
        maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
        headerTimeoutMs: opts.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS,
        bodyTimeoutMs: opts.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
        idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        maxHeaderBytes: opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
        maxUrlBytes: opts.maxUrlBytes ?? DEFAULT_MAX_URL_BYTES,
        maxHeaderFields: opts.maxHeaderFields ?? DEFAULT_MAX_HEADER_FIELDS,
      },
      maxConnections: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      sharedOpen: opts.sharedConnections,
      log: opts.log,
      ...handlers,
      errorResponse: (err: HttpError) =>
        jsonResponse(err.status, errorBody(err.message, requestIdOf(null), err.extra)),
      events: {
        refused: () => metrics.connections.refused.inc(),
        shed: () => metrics.connections.shed.inc(),
        protocolError: (status) => metrics.connections.protocolErrors.inc({ status }),
        timedOut: (phase) => metrics.connections.timeouts.inc({ phase }),
        acceptError: (code) => metrics.connections.acceptErrors.inc({ code }),
      },
    }));
  metrics.connections.setOpen(() => server.open);
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const scheme = opts.tlsCertFile ? "https" : "http";
  // The url is where this host connects (loopback for the IPv4 wildcard); the listening line
  // names the bound address beside it when they differ.
  const connect = host === "0.0.0.0" ? "127.0.0.1" : host;
  const url = `${scheme}://${connect}:${addr.port}`;
  const bound = connect === host ? {} : { address: `${host}:${addr.port}` };
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      server.beginDrain();
      await startDrain();
      const deadline = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
      if (!await server.shutdown(deadline)) {
        opts.log.warn("drain deadline exceeded; abandoning in-flight requests", {
          deadline_ms: deadline,
        });
      }
    })();
  opts.log.info("listening", { url, ...bound });
  const reclaimer = startReclaim({
    periodMs: opts.idleReclaimMs ?? DEFAULT_IDLE_RECLAIM_MS,
    log: opts.log,
  });
  const stop = () => {
    reclaimer.stop();
    return close();
  };
  return { url, close: stop, failed: server.failed };
}

/**
 * Runs `start`; with TLS configured, an error other than the address being taken is about the
 * certificate or key, and says so naming the settings.
 * @throws {UsageError} for a certificate or key Deno.listenTls refuses
 */
function listenOrExplain<T>(tls: unknown, start: () => T): T {
  try {
    return start();
  } catch (err) {
    if (!tls || err instanceof Deno.errors.AddrInUse) throw err;
    const message = errorMessage(err);
    throw new UsageError(`tls_cert_file/tls_key_file: ${message}`, undefined, { cause: err });
  }
}

/** Reads the configured certificate and key, if any. */
async function readTls(opts: ServerOptions): Promise<{ cert: string; key: string } | undefined> {
  const { tlsCertFile: certFile, tlsKeyFile: keyFile } = opts;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) {
    throw new UsageError("tls_cert_file and tls_key_file go together: set both or neither");
  }
  const read = async (setting: string, path: string) => {
    try {
      return await readTextWithin(path);
    } catch (err) {
      throw new UsageError(
        `${setting}: cannot read ${path}: ${errorMessage(err)}`,
        undefined,
        {
          cause: err,
        },
      );
    }
  };
  return { cert: await read("tls_cert_file", certFile), key: await read("tls_key_file", keyFile) };
}
