/**
 * The command wire format: a command `{command_id, type, parameters}` (or upstream's
 * `{id, command_id, name, params}`, see stacker.ts) and its result `{command_id, status,
 * result, error, completed_at, executed_by, deployment_hash, app_code, command_type, errors}`,
 * the scope each command type needs, and the result builder. Parsing a command body and its
 * parameters is core/docker/parse's, which loads the schemas.
 * @module
 */

/** Command types the Docker executor runs. */
export const DOCKER_COMMANDS = [
  "health",
  "logs",
  "restart",
  "stop",
  "start",
  "pause",
  "unpause",
  "list_containers",
  "inspect",
  "deploy_app",
  "remove_app",
] as const;
/** One Docker command type. */
export type DockerCommandType = typeof DOCKER_COMMANDS[number];
/** Command types whose target is one container: all but the list and an app's deploy and removal. */
export const CONTAINER_COMMANDS: ReadonlySet<string> = new Set<string>(
  DOCKER_COMMANDS.filter((t) =>
    t !== "list_containers" && t !== "deploy_app" && t !== "remove_app"
  ),
);

/** True for the command types handled by the Docker executor. */
export function isDockerCommand(type: string): type is DockerCommandType {
  return (DOCKER_COMMANDS as readonly string[]).includes(type);
}

/** The scope a caller needs for a command type: `compose:<type>` for apps, `docker:<type>` else. */
export function scopeFor(type: string): string {
  return type === "deploy_app" || type === "remove_app" ? `compose:${type}` : `docker:${type}`;
}

/** Longest command id accepted. */
export const MAX_COMMAND_ID_LENGTH = 128;
/** The Docker socket used when none is configured. */
export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";
/** Largest inline compose file `deploy_app` accepts, by default. */
export const DEFAULT_MAX_COMPOSE_FILE_BYTES = 256 * 1024;

/** A command as received. */
export interface AgentCommand {
  command_id: string;
  type: string;
  parameters: Record<string, unknown>;
  deployment_hash?: string;
  /** Upstream's own id of the command (`id`), when it sent one. */
  id?: string;
  /** The app Stacker named (`app_code`), when it named one. */
  app_code?: string;
  /** An upstream `name` that is a shell command line: type is `shell`, and it is never run. */
  shell?: string;
}

/** Terminal statuses of a command. */
export type CommandStatus = "success" | "failed" | "timeout";

/** One error entry as Stacker reads it. */
export interface StackerError {
  code: string;
  message: string;
}

/** A command result as reported (the upstream CommandResult fields, all present). */
export interface CommandResult {
  command_id: string;
  status: CommandStatus;
  result: unknown;
  error: string | null;
  completed_at: string;
  executed_by: string;
  deployment_hash?: string;
  app_code?: string;
  command_type?: string;
  errors?: StackerError[];
}

/** The app code a result names: Stacker's, else the container, else `all`. */
export function appCodeOf(cmd: Pick<AgentCommand, "app_code" | "parameters">): string {
  const p = cmd.parameters ?? {};
  if (typeof cmd.app_code === "string") return cmd.app_code;
  if (typeof p.name === "string") return p.name;
  return "all";
}

/** Builds a result record. */
export function makeResult(
  cmd: Pick<AgentCommand, "command_id"> & Partial<AgentCommand>,
  executedBy: string,
  status: CommandStatus,
  result: unknown,
  error: string | null,
): CommandResult {
  return {
    command_id: cmd.command_id,
    status,
    result,
    error,
    completed_at: new Date().toISOString(),
    executed_by: executedBy,
    ...(cmd.deployment_hash !== undefined ? { deployment_hash: cmd.deployment_hash } : {}),
    app_code: appCodeOf({ app_code: cmd.app_code, parameters: cmd.parameters ?? {} }),
    ...(cmd.type !== undefined ? { command_type: cmd.type } : {}),
    errors: error === null ? [] : [{ code: status, message: error }],
  };
}
