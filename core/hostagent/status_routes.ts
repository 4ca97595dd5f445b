/**
 * The status agent's read-only HTTP API: `/capabilities`, `/api/v1/metrics` (JSON snapshot) and
 * `/api/v1/metrics/stream` (SSE, bounded number of clients), each behind the read guard
 * (`status:read` when credentials are configured; status_auth.ts).
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { HttpError } from "../errors/mod.ts";
import type { HostSnapshot } from "../host/mod.ts";
import type { App, AppEnv } from "../http/mod.ts";
import type { HostMonitor } from "./monitor.ts";
import { lateImport } from "../config/mod.ts";
import { onceUntilFailure } from "../async/mod.ts";

/** Hono's SSE helper (streaming.ts), loaded with the first stream request. */
type Streaming = typeof import("./streaming.ts");

/** What a stream request gets, and `/health` names, when the SSE helper cannot be loaded. */
export const STREAM_UNAVAILABLE = "the metrics stream could not be loaded";

/** What the routes need. */
export interface StatusRouteDeps {
  monitor: HostMonitor;
  capabilities: () => Record<string, unknown>;
  maxStreamClients: number;
  /** The check before every route (`StatusReadGuard.middleware`); default: none. */
  read?: MiddlewareHandler<AppEnv>;
  /**
   * True once the credential a request was let in with no longer holds (expired or revoked):
   * its stream ends before the next sample (`StatusReadGuard.lapsed`); default: never.
   */
  lapsed?: (c: Context<AppEnv>) => Promise<boolean>;
  /** Resolves when the server starts draining (ends streams). */
  drained: Promise<void>;
  /**
   * Called when a stream request finds that Hono's SSE helper cannot be loaded (it answers a
   * JSON 503; Deno keeps a failed import for the life of the process, so every stream does).
   */
  onStreamUnavailable?: (err: unknown) => void;
}

/**
 * Registers the routes; Hono's SSE helper loads with the first stream request, so a helper that
 * cannot be loaded fails the stream alone (a JSON 503), not the snapshot or the capabilities.
 */
export function registerStatusRoutes(app: App, deps: StatusRouteDeps): void {
  const streaming = onceUntilFailure(() =>
    lateImport<Streaming>("./streaming.ts", import.meta.url)
  );
  const read: MiddlewareHandler<AppEnv> = deps.read ?? (async (_c, next) => await next());
  app.get("/capabilities", read, (c) => c.json(deps.capabilities()));
  app.get("/api/v1/metrics", read, (c) => c.json(deps.monitor.latest()));
  // Streams counted from their check on, so that clients arriving together (while the stream's
  // helper loads, before any of them listens) cannot pass the bound together.
  let streams = 0;
  const follow = followSamples(deps);
  app.get("/api/v1/metrics/stream", read, async (c) => {
    if (streams >= deps.maxStreamClients) {
      throw new HttpError(503, `too many stream clients (${deps.maxStreamClients})`, {
        limit: deps.maxStreamClients,
      });
    }
    streams++;
    let streamSSE: Streaming["streamSSE"];
    try {
      ({ streamSSE } = await streaming());
    } catch (err) {
      streams--;
      deps.onStreamUnavailable?.(err);
      throw new HttpError(503, STREAM_UNAVAILABLE, {}, { cause: err });
    }
    let counted = true;
    const release = () => {
      if (counted) streams--;
      counted = false;
    };
    try {
      return streamSSE(c, async (stream) => {
        try {
          await follow(stream, deps.lapsed ? () => deps.lapsed!(c) : undefined);
        } finally {
          release();
        }
      });
    } catch (err) {
      release();
      throw err;
    }
  });
}

/** Writes samples to one metrics stream until the client goes or the server drains. */
function followSamples(deps: StatusRouteDeps) {
  return async (stream: {
    writeSSE(m: { event: string; id: string; data: string }): Promise<void>;
    onAbort(f: () => void): void;
  }, lapsed?: () => Promise<boolean>) => {
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
          // A credential revoked or expired since the stream opened is served no more samples.
          if (await lapsed?.()) break;
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
  };
}
