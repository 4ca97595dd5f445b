/**
 * Types shared by the server factory and its middlewares: the Hono environment every service
 * app uses, and what a running service exposes.
 * @module
 */
import type { Hono } from "hono";
import type { Logger } from "../log/mod.ts";

/** Hono context variables set by the factory's middlewares. */
export type AppEnv = { Variables: { requestId: string; log: Logger } };

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
