/**
 * The dashboard's HTTP surface: `GET /` (server-rendered live page), `GET /events` (same-origin
 * SSE fed by the relay), `GET /tx/{id}`, static script and stylesheet, all under a strict CSP.
 * Read-only by construction: no route writes to the relay, the policy or the audit service.
 * @module
 */
import { createServer, type EdgeOptions, type Service } from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";
import { encodeComment } from "../relay/sse.ts";
import { DashboardFeed } from "./feed.ts";
import { registerDashboardRoutes } from "./routes.tsx";

/** Content-Security-Policy of every dashboard response: same-origin script/style, nothing inline. */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Everything the dashboard server needs. */
export interface DashboardOptions {
  host: string;
  port: number;
  log: Logger;
  relayUrl: string;
  relayToken?: string;
  auditUrl?: string;
  auditPublicKey?: Uint8Array;
  auditTimeoutMs: number;
  topics: string[];
  history: number;
  maxCards: number;
  queueBytes: number;
  maxClients: number;
  heartbeatMs: number;
  retryMs: number;
  /** The HTTP edge's bounds (body limit, timeouts, connection cap, TLS, drain deadline). */
  edge?: EdgeOptions;
}

/** Starts the dashboard. */
export async function startDashboardServer(o: DashboardOptions): Promise<Service> {
  const feed = new DashboardFeed({
    relayUrl: o.relayUrl,
    relayToken: o.relayToken,
    topics: o.topics,
    history: o.history,
    queueBytes: o.queueBytes,
    maxClients: o.maxClients,
    log: o.log,
  });
  const server = createServer({
    service: "dashboard",
    host: o.host,
    port: o.port,
    log: o.log,
    ...o.edge,
    health: () => ({
      status: "ok",
      service: "dashboard",
      relay: feed.relay().state,
      clients: feed.clients,
    }),
  });
  const { app } = server;
  app.use("*", async (c, next) => {
    await next();
    c.res.headers.set("content-security-policy", CSP);
    c.res.headers.set("x-content-type-options", "nosniff");
    c.res.headers.set("referrer-policy", "no-referrer");
    c.res.headers.set("x-frame-options", "DENY");
  });

  registerDashboardRoutes(app, feed, o);

  const heartbeat = encodeComment("heartbeat");
  const timer = setInterval(() => feed.broadcastIfIdle(heartbeat), o.heartbeatMs);
  server.onDrain(async () => {
    clearInterval(timer);
    await feed.close();
  });
  let svc: Service;
  try {
    svc = await server.listen();
  } catch (err) {
    clearInterval(timer);
    await feed.close();
    throw err;
  }
  return svc;
}
