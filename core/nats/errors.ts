/**
 * Telling an engine outage from a refusal: connection loss, timeouts, no responders and
 * JetStream's 503 mean "try again later" (HTTP 503 with Retry-After); anything else is a real
 * error.
 * @module
 */
import { JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";

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
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    if (
      e instanceof EngineUnavailableError || e instanceof TimeoutError ||
      e instanceof NoRespondersError || e instanceof ConnectionError ||
      e instanceof ClosedConnectionError || e instanceof DrainingConnectionError ||
      e instanceof RequestError
    ) return true;
    if (e instanceof JetStreamApiError && e.status === 503) return true;
    if (e instanceof JetStreamError && /timeout|unavailable|no responders/i.test(e.message)) {
      return true;
    }
    e = e.cause;
  }
  return false;
}
