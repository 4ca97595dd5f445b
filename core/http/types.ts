/**
 * Types shared by the server factory and its middlewares: the Hono environment every service
 * app uses, what a running service exposes, and its once-only close.
 * @module
 */
import type { Hono } from "hono";
import type { Logger } from "../log/mod.ts";

/**
 * Hono context variables set by the factory's middlewares; `passedOn` by a route whose answer is
 * passed on as it came (the sidecar's `/proxy`): the app adds no field to it.
 */
export type AppEnv = { Variables: { requestId: string; log: Logger; passedOn?: boolean } };

/** The Hono app type services register routes on. */
export type App = Hono<AppEnv>;

/** A running service: where it listens, how to stop it, and whether its listener failed. */
export interface Service {
  /** Base URL, e.g. `http://127.0.0.1:8005`. */
  url: string;
  /** Drains in-flight requests (up to the deadline) and stops. Idempotent. */
  close(): Promise<void>;
  /**
   * Resolves with the error when the service can no longer serve (its listener failed for
   * good); never resolves otherwise. A supervisor-facing command exits non-zero on it.
   */
  failed: Promise<Error>;
}

/**
 * `svc` with a close() that runs `shutdown` (which closes `svc` and whatever else the service
 * holds, in its order) once: later calls share the first call's promise.
 * @example
 * ```ts
 * return withShutdown(svc, async () => {
 *   await svc.close();
 *   await store.close();
 * });
 * ```
 */
export function withShutdown(svc: Service, shutdown: () => Promise<void>): Service {
  let closing: Promise<void> | undefined;
  return { url: svc.url, failed: svc.failed, close: () => closing ??= shutdown() };
}
