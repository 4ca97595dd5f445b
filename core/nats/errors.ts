/**
 * Telling an engine outage from a refusal: connection loss, timeouts, no responders and
 * JetStream's 503 mean "try again later" (HTTP 503 with Retry-After); anything else is a real
 * error.
 * @module
 */
import { loadedNatsClient, type NatsClient } from "./client.ts";

/** The engine could not be reached (at start, or for one request). */
export class EngineUnavailableError extends Error {
  override name = "EngineUnavailableError";
  /**
   * @param message says which engine (its URL, without credentials) and what failed
   * @param options `cause`: the client's error
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * True when `err` (or its cause) says the engine is out of reach for now, not that it refused.
 *
 * @example
 * ```ts
 * isEngineOutage(new EngineUnavailableError("nats://127.0.0.1:4222: connection refused")); // true
 * isEngineOutage(new Error("bad input")); // false
 * ```
 */
export function isEngineOutage(err: unknown): boolean {
  // Before a connection loaded the client, none of its errors can exist.
  const client = loadedNatsClient();
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    if (e instanceof EngineUnavailableError) return true;
    if (client && isClientOutage(client, e)) return true;
    e = e.cause;
  }
  return false;
}

/**
 * True when `err` (or its cause) says nothing listened on the subject: no stream takes it (the
 * stream was deleted or no longer lists it), or none is taking it for a moment (a cluster
 * electing the stream's leader). An outage too, as far as {@linkcode isEngineOutage} knows.
 *
 * @example
 * ```ts
 * isNoResponders(new Error("bad input")); // false
 * ```
 */
export function isNoResponders(err: unknown): boolean {
  const t = loadedNatsClient()?.transport;
  if (!t) return false;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    if (e instanceof t.NoRespondersError) return true;
    if (e instanceof t.RequestError && e.isNoResponders()) return true;
    e = e.cause;
  }
  return false;
}

/**
 * True when `err` (or its cause) is the server refusing this connection's user a publish to a
 * subject (its permissions: `Permissions Violation for Publish to "..."`): only an operator can
 * change that, so it is no outage to retry.
 *
 * @example
 * ```ts
 * isPublishDenied(new Error("bad input")); // false
 * ```
 */
export function isPublishDenied(err: unknown): boolean {
  const t = loadedNatsClient()?.transport;
  if (!t) return false;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    if (e instanceof t.PermissionViolationError && e.operation === "publish") return true;
    e = e.cause;
  }
  return false;
}

/** Whether one of the client's own errors means an outage. */
function isClientOutage({ transport: t, jetstream: js }: NatsClient, e: Error): boolean {
  return e instanceof t.TimeoutError || e instanceof t.NoRespondersError ||
    e instanceof t.ConnectionError || e instanceof t.ClosedConnectionError ||
    e instanceof t.DrainingConnectionError || e instanceof t.RequestError ||
    (e instanceof js.JetStreamApiError && e.status === 503) ||
    (e instanceof js.JetStreamError && /timeout|unavailable|no responders/i.test(e.message));
}
