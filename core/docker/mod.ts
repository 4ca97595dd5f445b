/**
 * Docker for the host agents: Engine API client over the unix socket, compose runner, the
 * command executor and the watchdog. Only the compose-agent (and the status agent in legacy
 * mode) import this.
 * @module
 */
export {
  type AgentCommand,
  type CommandResult,
  type CommandStatus,
  DOCKER_COMMANDS,
  type DockerCommandType,
  isDockerCommand,
  makeResult,
  parseCommand,
  scopeFor,
} from "./command.ts";
export {
  type ComposeFlavor,
  ComposeRunner,
  type HealthGate,
  type ServiceState,
} from "./compose.ts";
export { CommandCounters, type ControlPlaneMetrics } from "./counters.ts";
export {
  type ContainerInspect,
  type ContainerSummary,
  DEFAULT_DOCKER_SOCKET,
  DEFAULT_MAX_LOG_BYTES,
  DockerEngine,
  type LogEntry,
  type LogOptions,
} from "./engine.ts";
export { DEFAULT_MAX_COMPOSE_FILE_BYTES } from "./apps.ts";
export { DockerExecutor, type PreparedCommand } from "./executor.ts";
export { DEFAULT_DEPLOY_ALLOW, type DeployAllow, DeployPolicy } from "./deploy_policy.ts";
export type { ProcessResult } from "./process.ts";
export type { StackerError } from "./stacker.ts";
export {
  Watchdog,
  type WatchdogAction,
  type WatchdogEvent,
  type WatchdogReason,
} from "./watchdog.ts";
