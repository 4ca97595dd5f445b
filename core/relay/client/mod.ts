/**
 * The relay's HTTP client, apart from the relay itself so that a service that only publishes or
 * subscribes does not load the hub, the stores and the routes: non-blocking and awaited publish,
 * resumable subscriptions.
 *
 * @example
 * ```ts
 * const relay = new RelayClient({ url: "http://127.0.0.1:8005" });
 * relay.publish("access.intent", { tx_id: "t1" });
 * await relay.close();
 * ```
 * @module
 */
export {
  type PublishHealth,
  type PublishStats,
  RelayClient,
  RelayError,
  type RelayEvent,
} from "./client.ts";
export type { SubscribeOptions, Subscription, SubscriptionStatus } from "./subscribe.ts";
