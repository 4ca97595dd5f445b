/**
 * The TryDirect (Stacker) command dialect, accepted beside iatp's: the execute body
 * `{id, command_id, name, params}` (also `stacker.<name>` and `docker:<op>:<container>`),
 * Stacker's parameter names (`app_code`, `container`, `force`, `limit`, `timeout`, ...), and the
 * typed `result` Stacker validates for health, logs and restart.
 * @module
 */
import { CONTAINER_COMMANDS, type StackerError } from "../wire/mod.ts";

/** Longest upstream `name` accepted (a shell command line, upstream). */
const MAX_UPSTREAM_NAME = 4096;

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? v as Record<string, unknown>
    : undefined;
}

/**
 * Rewrites an upstream execute body (`name`, `params`) into iatp's (`type`, `parameters`); an
 * iatp body is returned as is. A `name` that is no command type (a shell line such as
 * `echo hi`) becomes type `shell` with the line in `shell`: iatp never runs it.
 * @example
 * ```ts
 * fromUpstreamBody({ id: "1", command_id: "c", name: "docker:restart:web", params: {} });
 * // { id: "1", command_id: "c", type: "restart", parameters: { container: "web" } }
 * ```
 */
export function fromUpstreamBody(body: unknown): unknown {
  const b = obj(body);
  if (!b || b.type !== undefined || typeof b.name !== "string") return body;
  const { name, params, ...rest } = b;
  let parameters = obj(params) ?? {};
  // Upstream unwraps `params.params` when the dashboard nested them.
  const inner = obj(parameters.params);
  if (inner) parameters = inner;
  const n = name.trim().slice(0, MAX_UPSTREAM_NAME);
  const docker = /^docker:([a-z_]+):([A-Za-z0-9_.-]{1,63})$/.exec(n);
  if (docker) {
    return { ...rest, type: docker[1], parameters: { ...parameters, container: docker[2] } };
  }
  const type = n.replace(/^stacker\./, "");
  if (/^[a-z_]{1,64}$/.test(type)) return { ...rest, type, parameters };
  return { ...rest, type: "shell", parameters, shell: n };
}

/**
 * Maps Stacker's parameter names onto iatp's for one command type: the container is
 * `container`, else `app_code` (unless `all`), else iatp's `name`; logs `limit` is `tail`;
 * restart/stop `timeout` is `timeout_secs`. Unknown extras (`force`, `include_metrics`, ...)
 * are kept; the operation's schema ignores what it does not use.
 */
export function stackerParameters(
  type: string,
  params: Record<string, unknown>,
  appCode: string | undefined,
): Record<string, unknown> {
  const p = { ...params };
  const app = typeof p.app_code === "string" ? p.app_code : appCode;
  if (app !== undefined && p.app_code === undefined) p.app_code = app;
  if (CONTAINER_COMMANDS.has(type) && p.name === undefined) {
    const target = typeof p.container === "string" && p.container !== ""
      ? p.container
      : app !== undefined && app !== "all" && app !== ""
      ? app
      : undefined;
    if (target !== undefined) p.name = target;
  }
  if (type === "logs" && p.tail === undefined && p.limit !== undefined) p.tail = p.limit;
  if ((type === "restart" || type === "stop") && p.timeout_secs === undefined) {
    if (p.timeout !== undefined) p.timeout_secs = p.timeout;
  }
  return p;
}

/** Container states Stacker knows. */
type ContainerState = "running" | "exited" | "starting" | "failed" | "unknown";

/** Docker's state word as Stacker's container_state. */
function containerState(state: unknown): ContainerState {
  switch (state) {
    case "running":
      return "running";
    case "exited":
      return "exited";
    case "created":
    case "restarting":
      return "starting";
    case "dead":
      return "failed";
    default:
      return "unknown";
  }
}

/** What {@linkcode stackerResult} needs about the command and its outcome. */
export interface TypedResultInput {
  type: string;
  deploymentHash: string;
  appCode: string;
  /** The operation's own result (iatp's details), or null when it failed. */
  value: unknown;
  error: string | null;
}

function healthStatus(v: Record<string, unknown>): "ok" | "unhealthy" | "unknown" {
  if (v.docker === "ok") return "ok";
  if (v.running !== true) return "unhealthy";
  if (v.health === "unhealthy") return "unhealthy";
  if (v.health === "starting") return "unknown";
  return "ok";
}

/**
 * The typed `result` Stacker validates for health, logs and restart (`type`,
 * `deployment_hash`, `app_code`, `status`, `container_state`, `errors`, or logs `lines`),
 * with iatp's own fields alongside; other types keep their value unchanged.
 */
export function stackerResult(input: TypedResultInput): unknown {
  const { type, value, error } = input;
  if (type !== "health" && type !== "logs" && type !== "restart") return value;
  const v = obj(value) ?? {};
  const errors: StackerError[] = error ? [{ code: `${type}_failed`, message: error }] : [];
  const envelope = { type, deployment_hash: input.deploymentHash, app_code: input.appCode };
  if (type === "logs") {
    return { ...v, ...envelope, lines: v.lines ?? [], truncated: v.truncated === true, errors };
  }
  const state = v.docker === "ok" ? "running" : containerState(v.state);
  const status = type === "restart"
    ? (error === null && state === "running" ? "ok" : "failed")
    : error === null
    ? healthStatus(v)
    : "unknown";
  return { ...v, ...envelope, status, container_state: state, errors };
}
