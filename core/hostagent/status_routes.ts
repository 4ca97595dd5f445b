/**
 * The status agent's read-only HTTP API: `/capabilities`, `/api/v1/metrics` (JSON snapshot) and
 * `/api/v1/metrics/stream` (SSE, bounded number of clients).
 * @module
 */
import { HttpError } from "../errors/mod.ts";
import type { HostSnapshot } from "../host/mod.ts";
import type { App } from "../http/mod.ts";
import type { HostMonitor } from "./monitor.ts";
import { lateImport } from "../config/mod.ts";

/** Hono's SSE helper (streaming.ts), loaded with the routes. */
type Streaming = typeof import("./streaming.ts");

/** What the routes need. */
export interface StatusRouteDeps {
  monitor: HostMonitor;
  capabilities: () => Record<string, unknown>;
  maxStreamClients: number;
  /** Resolves when the server starts draining (ends streams). */
  drained: Promise<void>;
}

/**
 * Registers the routes, loading hono's SSE helper with them (a service registers its routes with
 * the first request its router serves).
 */
export async function registerStatusRoutes(app: App, deps: StatusRouteDeps): Promise<void> {
  const { streamSSE } = await lateImport<Streaming>("./streaming.ts", import.meta.url);
  app.get("/capabilities", (c) => c.json(deps.capabilities()));
  app.get("/api/v1/metrics", (c) => c.json(deps.monitor.latest()));
  app.get("/api/v1/metrics/stream", (c) => {
    if (deps.monitor.listeners >= deps.maxStreamClients) {
      throw new HttpError(503, `too many stream clients (${deps.maxStreamClients})`, {
        limit: deps.maxStreamClients,
      });
    }
    return streamSSE(c, async (stream) => {
      // One pending snapshot at most: a slow client skips samples instead of queueing them.
      let pending: HostSnapshot | undefined = deps.monitor.latest();
      let wake: (() => void) | undefined;
      const stop = deps.monitor.listen((s) => {
        pending = s;
        wake?.();
      });
      let open = true;
      const end = () => {
        open = false;
        wake?.();
      };
      stream.onAbort(end);
      deps.drained.then(end);
      try {
        while (open) {
          if (pending) {
            const s = pending;
            pending = undefined;
            await stream.writeSSE({
              event: "metrics",
              id: String(s.timestamp_ms),
              data: JSON.stringify(s),
            });
            continue; // a sample may have arrived during the write
          }
          await new Promise<void>((r) => wake = r);
          wake = undefined;
        }
      } finally {
        stop();
      }
    });
  });
}
