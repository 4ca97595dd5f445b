/**
 * Docker for the host agents: Engine API client over the unix socket, the watchdog and the
 * command wire format (types, results, counters: core/docker/wire, which the status agent
 * imports alone, as it talks to the daemon only in legacy mode). The command parser (zod,
 * Stacker's dialect) is core/docker/parse; the command executor, which checks compose files
 * (yaml) and runs the compose CLI, is core/docker/executor: the compose-agent loads it with its
 * first command, the status agent only in legacy mode.
 * @module
 */
export {
  type AgentCommand,
  appCodeOf,
  CommandCounters,
  type CommandResult,
  type CommandStatus,
  type ControlPlaneMetrics,
  DEFAULT_DOCKER_SOCKET,
  DEFAULT_MAX_COMPOSE_FILE_BYTES,
  DOCKER_COMMANDS,
  type DockerCommandType,
  isDockerCommand,
  makeResult,
  MAX_COMMAND_ID_LENGTH,
  scopeFor,
  type StackerError,
} from "./wire/mod.ts";
export {
  type ContainerInspect,
  type ContainerSummary,
  DEFAULT_MAX_LOG_BYTES,
  DockerEngine,
  DockerError,
  type LogEntry,
  type LogOptions,
  type NetworkSummary,
  type VolumeSummary,
} from "./engine.ts";
export { CONTAINER_NAME, PROJECT_NAME } from "./names.ts";
export {
  Watchdog,
  type WatchdogAction,
  type WatchdogEvent,
  type WatchdogReason,
} from "./watchdog.ts";
