/**
 * Parsing a command body in either dialect (`{command_id, type, parameters}` or upstream's
 * `{id, command_id, name, params}`) and a command's parameters against their schemas: invalid
 * input is an HttpError(400) naming the field.
 * @module
 */
import { z } from "zod";
import { HttpError, isValidationError } from "../../errors/mod.ts";
import { type AgentCommand, MAX_COMMAND_ID_LENGTH } from "../wire/mod.ts";
import { fromUpstreamBody, stackerParameters } from "./stacker.ts";

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

/** A command result as a queue consumer reports it (upstream's CommandResult). */
export interface CommandReport {
  command_id: string;
  deployment_hash?: string;
  status: string;
  completed_at: string;
  executed_by?: string;
  result?: unknown;
  error?: string | null;
  errors?: unknown[];
  command_type?: string;
  app_code?: string;
}

// Upstream's CommandResult: command_id, status and completed_at required, the rest optional.
const reportSchema = z.object({
  command_id: z.string().regex(/^[A-Za-z0-9._:-]+$/).max(MAX_COMMAND_ID_LENGTH),
  deployment_hash: z.string().max(256).optional(),
  status: z.string().min(1).max(64),
  completed_at: z.string().max(64),
  executed_by: z.string().max(64).optional(),
  result: z.unknown().optional(),
  error: z.string().max(65_536).nullish(),
  errors: z.array(z.unknown()).max(1000).optional(),
  command_type: z.string().max(64).optional(),
  app_code: z.string().max(256).optional(),
});

/**
 * Parses a reported command result.
 * @throws {HttpError} 400 naming the first bad field
 */
export function parseReport(body: unknown): CommandReport {
  const r = reportSchema.safeParse(body);
  if (!r.success) {
    const field = r.error.issues[0].path.map(String).join(".") || "body";
    throw new HttpError(400, `invalid report: ${field}: ${r.error.issues[0].message}`, { field });
  }
  return r.data;
}
