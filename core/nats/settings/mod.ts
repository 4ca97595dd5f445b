/**
 * A `nats` section's fields and the connection settings made from them, apart from the client
 * (core/nats): a service whose configuration only declares the section (the sensor and action
 * agents, whose task queue is optional) does not reach the NATS packages when it starts, which
 * Deno would otherwise read the registry data of and start its npm resolution for.
 *
 * @example
 * ```ts
 * const fields = natsFields(); // user, password, token, creds, tls_*, timeout
 * ```
 * @module
 */
export {
  DEFAULT_NATS_MAX_CONTROL_LINE,
  DEFAULT_NATS_TIMEOUT_MS,
  natsFields,
  type NatsSection,
  type NatsSettings,
  natsSettings,
} from "./fields.ts";
