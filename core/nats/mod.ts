/**
 * NATS JetStream as the engine under the relay, the agents' task queues and the policy
 * replicas: one connection with credentials, TLS and endless reconnection with backoff; relay
 * topics as subject tokens (reversibly); telling an outage (503, try again) from a refusal. The
 * client packages are imported by the first connection, never by importing this module.
 *
 * @example
 * ```ts
 * const engine = await connectNats(natsSettings("nats://127.0.0.1:4222", section, "relay"), log);
 * topicSubject("relay", "a..b"); // "relay.a.~.b"
 * await engine.close();
 * ```
 * @module
 */
export {
  jetStreamApiCode,
  loadedNatsClient,
  loadNatsClient,
  type NatsClient,
  openKv,
} from "./client.ts";
export {
  connectNats,
  credentialsError,
  displayUrl,
  NATS_URL_EXPECTED,
  NatsEngine,
  natsServers,
  NatsUrlError,
  splitUrlCredentials,
  type UrlCredentials,
  UrlCredentialsError,
} from "./connect.ts";
export {
  EngineUnavailableError,
  isEngineOutage,
  isNoResponders,
  isPublishDenied,
} from "./errors.ts";
export {
  DEFAULT_NATS_TIMEOUT_MS,
  natsFields,
  type NatsSection,
  type NatsSettings,
  natsSettings,
} from "./settings/mod.ts";
export { patternSubject, subjectTopic, topicSubject } from "./subject.ts";
