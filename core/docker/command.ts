/**
 * The command wire format: a command `{command_id, type, parameters}` (or upstream's
 * `{id, command_id, name, params}`, see stacker.ts) and its result `{command_id, status,
 * result, error, completed_at, executed_by, deployment_hash, app_code, command_type, errors}`,
 * the scope each command type needs, and the parameter schemas. Invalid input is an
 * HttpError(400) naming the parameter.
 * @module
 */
import { z } from "zod";
import { HttpError, isValidationError } from "../errors/mod.ts";
import { fromUpstreamBody, type StackerError, stackerParameters } from "./stacker.ts";

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

/** True for the command types handled by the Docker executor. */
export function isDockerCommand(type: string): type is DockerCommandType {
  return (DOCKER_COMMANDS as readonly string[]).includes(type);
}

/** The scope a caller needs for a command type: `compose:<type>` for apps, `docker:<type>` else. */
export function scopeFor(type: string): string {
  return type === "deploy_app" || type === "remove_app" ? `compose:${type}` : `docker:${type}`;
}

/** Longest command id accepted. */
const MAX_COMMAND_ID_LENGTH = 128;

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

const commandSchema = z.object({
  command_id: z.string().regex(/^[A-Za-z0-9._:-]+$/).max(MAX_COMMAND_ID_LENGTH),
  type: z.string().regex(/^[a-z_]{1,64}$/),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  deployment_hash: z.string().max(256).optional(),
  id: z.string().max(MAX_COMMAND_ID_LENGTH).optional(),
  app_code: z.string().max(256).optional(),
  shell: z.string().optional(),
}).passthrough();

/**
 * Parses a command body in either dialect; throws HttpError(400) naming the bad field.
 * @throws {HttpError} 400 naming the field of a malformed command
 */
export function parseCommand(body: unknown): AgentCommand {
  const r = commandSchema.safeParse(fromUpstreamBody(body));
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.map(String).join(".") || "body";
    throw new HttpError(400, `invalid command: ${path}: ${issue.message}`, { field: path });
  }
  const type = r.data.type;
  const parameters = stackerParameters(type, r.data.parameters ?? {}, r.data.app_code);
  const app = typeof parameters.app_code === "string" ? parameters.app_code : undefined;
  return { ...r.data, parameters, ...(app !== undefined ? { app_code: app } : {}) } as AgentCommand;
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

/**
 * Validates `params` with `schema`; a failure is a 400 naming `parameters.<key>`.
 * @throws {HttpError} 400 naming `parameters.<key>` when `params` does not match `schema`
 */
export function parseParams<T>(schema: z.ZodType<T>, params: unknown): T {
  try {
    return schema.parse(params);
  } catch (err) {
    if (!isValidationError(err)) throw err;
    const issue = err.issues[0];
    const path = ["parameters", ...issue.path.map(String)].join(".");
    throw new HttpError(400, `invalid ${path}: ${issue.message}`, { field: path }, { cause: err });
  }
}
