/**
 * Validation of the names that reach Docker and the compose CLI. Anything else is refused
 * before it can become a path segment, a CLI argument or a label filter.
 * @module
 */
import { HttpError } from "../errors/mod.ts";

/** Longest container or project name accepted. */
const MAX_NAME_LENGTH = 63;
/** Container names (or ids): `[A-Za-z0-9_.-]`, starting alphanumeric so it is never a flag. */
export const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** Compose project names: the subset both compose v1 and v2 keep unchanged. */
export const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * Returns `name` when it is a valid container name; else a 400 naming the parameter.
 * @throws {HttpError} 400 when the name is not a valid container name
 */
export function containerName(value: unknown, param = "name"): string {
  if (typeof value !== "string" || !CONTAINER_NAME.test(value)) {
    throw new HttpError(
      400,
      `parameters.${param} must match [A-Za-z0-9_.-], start alphanumeric, at most ${MAX_NAME_LENGTH} characters`,
      { param },
    );
  }
  return value;
}

/**
 * Returns `name` when it is a valid compose project name; else a 400 naming the parameter.
 * @throws {HttpError} 400 when the name is not a valid compose project name
 */
export function projectName(value: unknown, param = "project"): string {
  if (typeof value !== "string" || !PROJECT_NAME.test(value)) {
    throw new HttpError(
      400,
      `parameters.${param} must match [a-z0-9_-], start alphanumeric, at most ${MAX_NAME_LENGTH} characters`,
      { param },
    );
  }
  return value;
}
