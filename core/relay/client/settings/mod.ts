/**
 * The client's default bounds and the config fields a service that publishes to the relay sets its
 * request deadline, its stop's wait for buffered events and its subscriptions' idle timeout with; apart from the client, so a service's config can name them without
 * loading it (several services load the client only when it is configured).
 * @module
 */
import { duration } from "../../../config/mod.ts";

/** `relay_timeout` (or a section's `timeout`): the deadline of one publish to the relay. */
export function relayTimeoutField(opts: { flag?: string } = {}) {
  return duration({
    ...opts,
    help: "deadline of one request to the relay (a publish; a stop waits at most this long " +
      "for one in flight)",
    default: DEFAULT_RELAY_REQUEST_TIMEOUT_MS,
    min: MIN_RELAY_REQUEST_TIMEOUT_MS,
  });
}

/**
 * `relay_flush_timeout` (or a section's `flush_timeout`): how long a stop waits for the events
 * buffered for the relay.
 */
export function relayFlushField(opts: { flag?: string } = {}) {
  return duration({
    ...opts,
    help: "how long a stop waits for the events buffered for the relay to go out (those left " +
      "are dropped, logged with their count)",
    default: DEFAULT_RELAY_FLUSH_TIMEOUT_MS,
    min: 0,
  });
}

/**
 * `relay_idle_timeout` (or a section's `idle_timeout`): how long a subscription to the relay may
 * receive nothing, not even a heartbeat, before it is taken for dead and made again.
 */
export function relayIdleField(opts: { flag?: string } = {}) {
  return duration({
    ...opts,
    help: "a subscription to the relay that receives nothing this long, not even a heartbeat, " +
      "is made again (keep it above the relay's heartbeat, at most 30s)",
    default: DEFAULT_RELAY_IDLE_TIMEOUT_MS,
    min: MIN_RELAY_IDLE_TIMEOUT_MS,
  });
}

/** Default deadline of one request to the relay (a publish). */
export const DEFAULT_RELAY_REQUEST_TIMEOUT_MS = 10_000;

/** Smallest request deadline a config may set. */
export const MIN_RELAY_REQUEST_TIMEOUT_MS = 100;

/** Default wait of a stop for the events buffered for the relay. */
export const DEFAULT_RELAY_FLUSH_TIMEOUT_MS = 5_000;

/** Default silence after which a subscription is made again. */
export const DEFAULT_RELAY_IDLE_TIMEOUT_MS = 60_000;

/** Smallest idle timeout a config may set. */
export const MIN_RELAY_IDLE_TIMEOUT_MS = 1_000;
