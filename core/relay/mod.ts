/**
 * The relay: resumable SSE pub/sub with per-topic sequence ids, bounded per-subscriber queues,
 * replay from a memory, SQLite or NATS JetStream store, the HTTP surface (`/publish`, `/subscribe`, `/topics`),
 * and the client services publish and subscribe with (a bounded non-blocking sender, resuming
 * subscriptions).
 *
 * @example
 * ```ts
 * const relay = new RelayClient({ url: "http://127.0.0.1:8005", token });
 * relay.publish("access.intent", { tx_id: "t1" });
 * relay.subscribe(["access.decision"], (e) => console.log(e.data));
 * await relay.close();
 * ```
 * @module
 */
export {
  type PublishStats,
  RelayClient,
  RelayError,
  type RelayEvent,
  type SubscribeOptions,
  type Subscription,
} from "./client/mod.ts";
export {
  DEFAULT_CACHE_EVENTS,
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_MAX_PENDING_PUBLISHES,
  DEFAULT_STREAM,
} from "./js_defaults.ts";
export type { JetStreamStore, JetStreamStoreOptions } from "./jetstream_store.ts";
export {
  openJetStreamStore,
  openSqliteStore,
  startRelayCluster,
  startRelayWorker,
} from "./on_demand.ts";
export { type StreamRelayEvent, streamRelayEvent } from "./js_wire.ts";
export { MemoryStore } from "./memory_store.ts";
export {
  DEFAULT_MAX_IDEMPOTENCY_KEYS,
  IDEMPOTENCY_HEADER,
  keyedEventId,
  REPLAYED_HEADER,
} from "./idempotency.ts";
export {
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_SUBSCRIBERS,
  DEFAULT_MAX_SUBSCRIBERS_PER_PRINCIPAL,
  DEFAULT_QUEUE_BYTES_TOTAL,
  DEFAULT_RESUME_WAIT_MS,
  MAX_RELAY_HEARTBEAT_MS,
  type PublishFn,
  type RelayRole,
  type RelayServerOptions,
  startRelayServer,
} from "./server.ts";
export type { RelayClusterOptions, RelayWorkerInit } from "./cluster.ts";
export type { SqliteStore } from "./sqlite_store.ts";
export {
  type AnyRelayStore,
  DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_EVENTS_PER_TOPIC,
  DEFAULT_MAX_TOPICS,
  DEFAULT_MAX_TOPICS_PER_PRINCIPAL,
  type RelayLog,
  type RelayStore,
  type RemoteRelayStore,
  type Retention,
  type StoredEvent,
  type TopicInfo,
  UPSTREAM_MAX_EVENTS_PER_TOPIC,
} from "./store.ts";
export { DEFAULT_BACKLOG_BYTES } from "./hub.ts";
export {
  DEFAULT_OVERFLOW_WAIT_MS,
  DEFAULT_QUEUE_BYTES,
  DEFAULT_ROUND_MAX_WAIT_MS,
  DEFAULT_ROUND_MIN_INTERVAL_MS,
  DEFAULT_ROUND_QUIET_MS,
  type EndReason,
  FlushRounds,
  type FlushRoundsOptions,
  SseSubscriber,
} from "./stream/mod.ts";
