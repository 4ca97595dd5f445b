/**
 * The host agents. The compose-agent's signed command API (queue, long-poll routes, Docker
 * reachability, watchdog events); the status agent's host monitor, command router (to the
 * compose-agent, or the socket in legacy mode), dashboard link and status routes; and the
 * settings both declare (identity, HMAC key from AGENT_TOKEN or Vault, signed-API bounds).
 *
 * @example
 * ```ts
 * const queue = new CommandQueue(100, 100);
 * server.routes((app) => registerCommandRoutes(app, { executor, queue, maxWaitMs: 30_000, ...more }));
 * ```
 * @module
 */
export { authUnavailable, SIGNING_UNAVAILABLE } from "./auth.ts";
export { DIAGNOSTICS_PATH, registerCommandRoutes, type RouteDeps } from "./command_routes.ts";
export {
  type AgentAuthConfig,
  agentAuthFields,
  agentTokenSource,
  checkLiteralHmacKey,
  checkReplayWindow,
  type ReplayWindowConfig,
  signedApiFields,
  TRYDIRECT_UNUSED_KEYS,
} from "./config.ts";
export { probeDocker, watchdogSink } from "./docker_watch.ts";
export { legacyTarget } from "./legacy.ts";
export { DashboardLink, type LinkOptions, PARSER_UNAVAILABLE } from "./link.ts";
export { composeAgentCounters, registerHostGauges, statusCommandCounter } from "./metrics.ts";
export { HostMonitor, type Publish } from "./monitor.ts";
export { CommandQueue, type CommandReport } from "./queue.ts";
export { CommandRouter, type DockerTarget } from "./router.ts";
export {
  CHECK_UNAVAILABLE,
  STATUS_READ_SCOPE,
  type StatusReadGuard,
  statusReadGuard,
} from "./status_auth.ts";
export { registerStatusRoutes, type StatusRouteDeps, STREAM_UNAVAILABLE } from "./status_routes.ts";
