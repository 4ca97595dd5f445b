/**
 * The host agents' command parser: a command body in either dialect (iatp's `{command_id, type,
 * parameters}` or TryDirect Stacker's `{id, command_id, name, params}`), a command's parameters
 * against their schemas (zod) and a command report, each refused as an HttpError(400) naming the
 * field; and Stacker's typed results. Apart from the executor and the Docker Engine client: the
 * status agent outside legacy mode loads it alone, with its first command, and forwards the
 * command to the compose-agent.
 *
 * @example
 * ```ts
 * const cmd = parseCommand({ command_id: "c1", type: "health", parameters: {} });
 * ```
 * @module
 */
export { type CommandReport, parseCommand, parseParams, parseReport } from "./parse.ts";
export { stackerResult, type TypedResultInput } from "./stacker.ts";
