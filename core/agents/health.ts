/**
 * The agent's health server on its own port: `GET /health` with one entry per component
 * (orchestrator, relay, plugins, queue), `/ready`, and Prometheus `/metrics` (also at
 * `metrics.path`, and on a separate `metrics.port` when one is configured).
 * @module
 */
import {
  type ComponentHealth,
  createServer,
  type EdgeOptions,
  type Server,
  type Service,
  serviceHealth,
} from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";

export type { ComponentHealth };

/** Options for {@linkcode createHealthServer}. */
export interface HealthServerOptions {
  service: string;
  agentId: string;
  host: string;
  port: number;
  healthPath: string;
  metrics: { enabled: boolean; path: string; port?: number };
  log: Logger;
  components: () => Record<string, ComponentHealth>;
  /** The HTTP edge's bounds (body limit, timeouts, connection cap, TLS, drain deadline). */
  edge?: EdgeOptions;
}

/**
 * Builds an agent's health body: the services' shape (see `serviceHealth`) with its `agent_id`.
 * @example
 * ```ts
 * healthBody("sensor", "s1", { audit: { ok: false, reason: "read-only file system" } }).reason;
 * // "audit: read-only file system"
 * ```
 */
export function healthBody(
  service: string,
  agentId: string,
  components: Record<string, ComponentHealth>,
): Record<string, unknown> {
  return serviceHealth(service, components, { agent_id: agentId });
}

/** A health server: the core/http server plus an optional separate metrics listener. */
export interface HealthServer {
  server: Server;
  listen(): Promise<Service & { metricsUrl?: string }>;
}

/** Creates the health server (not listening yet). */
export function createHealthServer(opts: HealthServerOptions): HealthServer {
  const body = () => healthBody(opts.service, opts.agentId, opts.components());
  const server = createServer({
    service: opts.service,
    host: opts.host,
    port: opts.port,
    log: opts.log,
    health: body,
    ...opts.edge,
  });
  if (opts.healthPath !== "/health") {
    server.routes((app) => {
      app.get(opts.healthPath, (c) => c.json(body()));
    });
  }
  const metricsText = async () => await server.metrics.registry.metrics();
  const contentType = server.metrics.registry.contentType;
  if (opts.metrics.enabled && opts.metrics.path !== "/metrics") {
    server.routes((app) => {
      app.get(
        opts.metrics.path,
        async (c) => c.body(await metricsText(), 200, { "content-type": contentType }),
      );
    });
  }
  const listen = async () => {
    const svc = await server.listen();
    const mport = opts.metrics.port;
    if (!opts.metrics.enabled || mport === undefined || mport === opts.port && mport !== 0) {
      return svc;
    }
    // The separate metrics port is served by the same hardened edge, answering only the path.
    const metricsServer = createServer({
      service: opts.service,
      host: opts.host,
      port: mport,
      log: opts.log,
      ...opts.edge,
    });
    metricsServer.routes((app) => {
      app.get(
        opts.metrics.path,
        async (c) => c.body(await metricsText(), 200, { "content-type": contentType }),
      );
    });
    let msvc: Service;
    try {
      msvc = await metricsServer.listen();
    } catch (err) {
      await svc.close();
      throw err;
    }
    const metricsUrl = `${msvc.url}${opts.metrics.path}`;
    opts.log.info("metrics listening", { url: metricsUrl });
    return {
      url: svc.url,
      metricsUrl,
      failed: Promise.race([svc.failed, msvc.failed]),
      close: async () => {
        await Promise.allSettled([svc.close(), msvc.close()]);
      },
    };
  };
  return { server, listen };
}
