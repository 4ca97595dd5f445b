/** The NATS JetStream store's defaults, apart from the store so a relay's settings can name them without loading it. @module */

/** Default stream name and subject prefix. */
export const DEFAULT_STREAM = "IATP_RELAY";
/** Default events whose data a replica keeps in memory for replays. */
export const DEFAULT_CACHE_EVENTS = 100_000;
/** Default publishes waiting for the engine at once. */
export const DEFAULT_MAX_PENDING_PUBLISHES = 10_000;
/** Default window in which the engine drops a repeated `Nats-Msg-Id`. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
