/**
 * The dashboard's HTTP surface: the overview, events, transactions, their JSON and SSE, the
 * login, and static files, all under a strict CSP (their routes in app.tsx, imported with the
 * first request they serve). Read-only by construction: no route writes to the relay, the policy
 * or the audit service; the only POSTs are login and logout.
 * @module
 */
import { lateImport } from "../config/mod.ts";
import { every } from "../async/mod.ts";
import type { MeshAuthSettings } from "../auth/mesh/mod.ts";
import { HttpError } from "../errors/mod.ts";
import {
  createServer,
  type EdgeOptions,
  encodeComment,
  type Service,
  serviceHealth,
} from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { NoteVerifier } from "../ledger/vkey/mod.ts";
import { createDashboardAuth } from "./auth.ts";
import { DashboardFeed } from "./feed.ts";
import { HealthWatch, type ServiceTarget } from "./health.ts";
import { LedgerWatch } from "./ledger_watch.ts";
import type { RouteDeps } from "./routes.tsx";

/** What a request gets, and `/health` names, when the pages or their gate cannot be loaded. */
const ROUTES_UNAVAILABLE = "the dashboard routes could not be loaded";

/** Everything the dashboard server needs. */
export interface DashboardOptions {
  host: string;
  port: number;
  log: Logger;
  /**
   * The mesh-auth settings checked at start (`meshAuthSettings` of core/auth/mesh): the viewer
   * authenticator is built from them with the first request the app serves; disabled means open
   * (loopback or insecure).
   */
  auth: MeshAuthSettings;
  /**
   * Started with `--insecure`: with auth disabled it serves requests naming any host, on
   * loopback too (without, an open dashboard on loopback serves only loopback names).
   */
  insecure?: boolean;
  relayUrl: string;
  relayToken?: string;
  /** Silence after which the relay subscription is made again. */
  relayIdleTimeoutMs?: number;
  auditUrl?: string;
  /** The audit checkpoint key (C2SP vkey), pinned for receipts and the ledger card. */
  auditKey?: NoteVerifier;
  auditTimeoutMs: number;
  /** Services whose `/health` the overview polls. */
  services: ServiceTarget[];
  healthIntervalMs: number;
  healthTimeoutMs: number;
  topics: string[];
  history: number;
  /** Most bytes of event JSON kept in memory. */
  historyBytes: number;
  pageSize: number;
  /** Most bytes of events one answer holds (events search, a transaction). */
  responseBytes: number;
  /** Visibility classes whose summary the feed keeps. */
  viewerClasses: number;
  streamBacklog: number;
  overviewRefreshMs: number;
  queueBytes: number;
  /** How long a browser stream cut off for its queue has to take its last write (`overflow_wait`). */
  overflowWaitMs?: number;
  maxClients: number;
  /** Browser streams one logged-in viewer (credential subject) may hold at once. */
  maxViewerStreams: number;
  heartbeatMs: number;
  retryMs: number;
  sessionTtlMs: number;
  maxSessions: number;
  /** Most live sessions of one viewer (credential subject). */
  maxViewerSessions: number;
  loginRatePerMin: number;
  /** The HTTP edge's bounds (body limit, timeouts, connection cap, TLS, drain deadline). */
  edge?: EdgeOptions;
}

/** What the dashboard runs: the relay feed, the health and ledger watchers, the login gate. */
function buildParts(o: DashboardOptions) {
  const feed = new DashboardFeed({
    relayUrl: o.relayUrl,
    relayToken: o.relayToken,
    relayIdleTimeoutMs: o.relayIdleTimeoutMs,
    topics: o.topics,
    history: o.history,
    historyBytes: o.historyBytes,
    viewerClasses: o.viewerClasses,
    queueBytes: o.queueBytes,
    overflowWaitMs: o.overflowWaitMs,
    maxClients: o.maxClients,
    log: o.log,
  });
  const targets = [...o.services];
  const auditUrl = o.auditUrl?.replace(/\/+$/, "");
  if (auditUrl && !targets.some((t) => t.url === auditUrl)) {
    targets.push({ name: "audit", url: auditUrl });
  }
  const watch = { intervalMs: o.healthIntervalMs, timeoutMs: o.healthTimeoutMs };
  const health = new HealthWatch(targets, { ...watch, log: o.log });
  const ledger = new LedgerWatch({ url: o.auditUrl, publicKey: o.auditKey, ...watch });
  const auth = createDashboardAuth({
    mesh: o.auth,
    log: o.log,
    sessionTtlMs: o.sessionTtlMs,
    maxSessions: o.maxSessions,
    maxViewerSessions: o.maxViewerSessions,
    loginRatePerMin: o.loginRatePerMin,
  });
  return { feed, health, ledger, auth };
}

/** Starts the dashboard. */
export async function startDashboardServer(o: DashboardOptions): Promise<Service> {
  const { feed, health, ledger, auth } = buildParts(o);
  const server = createServer({
    service: "dashboard",
    host: o.host,
    port: o.port,
    log: o.log,
    ...o.edge,
    anyHost: o.auth.enabled || o.insecure === true,
    health: () => {
      const facts = { relay: feed.relay().state, clients: feed.clients, login: auth.enabled };
      // Degraded, naming the routes, once they could not be loaded (Deno keeps a failed import
      // for the life of the process: every page answers 503 until a restart).
      if (routesFailed) {
        return serviceHealth(
          "dashboard",
          { routes: { ok: false, reason: ROUTES_UNAVAILABLE } },
          facts,
        );
      }
      return { status: "ok", service: "dashboard", ...facts };
    },
  });
  const routes: RouteDeps = {
    feed,
    auth,
    health,
    ledger,
    relayUrl: o.relayUrl,
    auditUrl: o.auditUrl,
    auditKey: o.auditKey,
    auditTimeoutMs: o.auditTimeoutMs,
    pageSize: o.pageSize,
    responseBytes: o.responseBytes,
    streamBacklog: o.streamBacklog,
    overviewRefreshMs: o.overviewRefreshMs,
    maxClients: o.maxClients,
    maxViewerStreams: o.maxViewerStreams,
    retryMs: o.retryMs,
  };
  // The pages, the login gate with the credential verifier, and Hono load with the first request
  // the app serves; core/http serves none before this registration is done, so no request
  // reaches a page before its gate exists. A load that fails answers that request a JSON 503.
  let routesFailed = false;
  server.routes(async (app) => {
    try {
      // By a computed specifier: the pages reach Hono and zod, whose registry data Deno would
      // read at every start for a string-literal import().
      const { registerDashboardApp } = await lateImport<typeof import("./app.tsx")>(
        "./app.tsx",
        import.meta.url,
      );
      await registerDashboardApp(app, routes);
    } catch (err) {
      routesFailed = true;
      o.log.error("the dashboard's routes could not be loaded", { err });
      throw new HttpError(503, ROUTES_UNAVAILABLE, {}, { cause: err });
    }
    routesFailed = false;
  });

  const heartbeat = encodeComment("heartbeat");
  const timer = every(o.heartbeatMs, () => feed.broadcastIfIdle(heartbeat));
  const stop = async () => {
    timer.cancel();
    await Promise.all([feed.close(), health.close(), ledger.close()]);
  };
  server.onDrain(stop);
  let svc: Service;
  try {
    svc = await server.listen();
  } catch (err) {
    await stop();
    throw err;
  }
  health.start();
  ledger.start();
  return svc;
}
