/**
 * The host agents' command wire, apart from the Docker Engine client and the watchdog: command
 * types and results, the scope each type needs, the result builder, the control-plane counters
 * and the default Docker socket path. The status agent forwards commands with it and loads the
 * Engine client (core/docker) only in legacy mode, when it runs them itself.
 *
 * @example
 * ```ts
 * const r = makeResult({ command_id: "c1", type: "health" }, "status_panel", "success", {}, null);
 * ```
 * @module
 */
export {
  type AgentCommand,
  appCodeOf,
  type CommandResult,
  type CommandStatus,
  CONTAINER_COMMANDS,
  DEFAULT_DOCKER_SOCKET,
  DEFAULT_MAX_COMPOSE_FILE_BYTES,
  DOCKER_COMMANDS,
  type DockerCommandType,
  isDockerCommand,
  makeResult,
  MAX_COMMAND_ID_LENGTH,
  scopeFor,
  type StackerError,
} from "./command.ts";
export { CommandCounters, type ControlPlaneMetrics } from "./counters.ts";
