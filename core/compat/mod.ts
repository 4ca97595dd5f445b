/**
 * Compatibility with the upstream systems iatp replaces. Where iatp's answer cannot also carry
 * the upstream shape (a status code, a list versus an object, a timestamp's type), a service
 * has one `compat` setting: `upstream` (the default: the upstream's clients work unchanged) or
 * `iatp` (iatp's own shapes). Validation failures in `upstream` mode are FastAPI's: 422 with
 * `detail: [{type, loc, msg}]` (beside iatp's `error` and `request_id`); in `iatp` mode 400
 * with `issues`. Offending input values are never echoed back.
 * @module
 */
import { oneOf } from "../config/mod.ts";
import { HttpError, isValidationError } from "../errors/mod.ts";

/** The values of a `compat` setting. */
export const COMPAT_MODES = ["upstream", "iatp"] as const;
/** A `compat` setting's value. */
export type CompatMode = typeof COMPAT_MODES[number];

/**
 * The `compat` config field of a service that replaces `system` (default `upstream`).
 * @example
 * ```ts
 * const fields = { compat: compatField("IG&S relay") };
 * ```
 */
export function compatField(system: string) {
  return oneOf(COMPAT_MODES, {
    help: `upstream: answer ${system} clients in its status codes and shapes where iatp's ` +
      "cannot carry them too; iatp: iatp's own",
    default: "upstream",
  });
}

/** One invalid field, FastAPI/pydantic style (`loc` without the leading `body`). */
export interface FieldIssue {
  /** pydantic's error type, e.g. `missing`, `dict_type`, `string_type`, `json_invalid`. */
  type: string;
  loc: Array<string | number>;
  msg: string;
}

/**
 * The error for invalid request input: 422 with `detail` (upstream) or 400 with `issues` (iatp).
 * @example
 * ```ts
 * invalidInput("upstream", "invalid request", [{ type: "missing", loc: ["payload"], msg: "Field required" }]).status; // 422
 * ```
 */
export function invalidInput(
  compat: CompatMode,
  message: string,
  issues: FieldIssue[],
  where: "body" | "query" | "header" = "body",
): HttpError {
  if (compat === "upstream") {
    const detail = issues.map((i) => ({ type: i.type, loc: [where, ...i.loc], msg: i.msg }));
    return new HttpError(422, message, { detail });
  }
  return new HttpError(400, message, {
    issues: issues.map((i) => ({ path: i.loc.map(String).join("."), message: i.msg })),
  });
}

const ZOD_TYPES: Record<string, string> = {
  string: "string_type",
  number: "float_type",
  int: "int_type",
  boolean: "bool_type",
  record: "dict_type",
  object: "dict_type",
  array: "list_type",
};

/**
 * The issues of a zod error as pydantic would name them (a missing member is `missing`, a
 * wrong type `<type>_type`, a body that is no object `model_attributes_type`, an unknown member
 * `extra_forbidden`).
 */
export function zodIssues(err: unknown): FieldIssue[] {
  if (!isValidationError(err)) return [];
  return err.issues.map((i) => {
    const loc = i.path.map((p) => typeof p === "number" ? p : String(p));
    const issue = i as { code?: string; expected?: string; keys?: string[] };
    if (issue.code === "invalid_type" && i.message.endsWith("received undefined")) {
      return { type: "missing", loc, msg: "Field required" };
    }
    if (issue.code === "invalid_type" && loc.length === 0) {
      return { type: "model_attributes_type", loc, msg: "Input should be a valid dictionary" };
    }
    if (issue.code === "invalid_type") {
      return { type: ZOD_TYPES[issue.expected ?? ""] ?? "type_error", loc, msg: i.message };
    }
    if (issue.code === "unrecognized_keys") {
      return { type: "extra_forbidden", loc: [...loc, ...(issue.keys ?? [])], msg: i.message };
    }
    return { type: "value_error", loc, msg: i.message };
  });
}

/**
 * Parses with a zod schema, turning a failure into {@linkcode invalidInput}.
 * @throws {HttpError} 422 (upstream) or 400 (iatp) naming the fields.
 */
export function parseInput<T>(
  compat: CompatMode,
  schema: { parse(v: unknown): T },
  value: unknown,
  message = "invalid request",
): T {
  try {
    return schema.parse(value);
  } catch (err) {
    if (!isValidationError(err)) throw err;
    throw invalidInput(compat, message, zodIssues(err));
  }
}

/**
 * Reads a JSON body with `read`; in upstream mode a body that is not JSON (a 400 carrying the
 * `field` it failed at) becomes FastAPI's 422 `json_invalid`. Limits (413, 408) stand, and so
 * does the edge's 400 for a body whose framing broke (a bad chunk, a body that ended early),
 * which carries no `field`: nothing was decoded, and the server in front of FastAPI refuses it
 * with a 400 too.
 * @throws {HttpError} from `read`, or the 422.
 */
export async function readJsonInput<T>(compat: CompatMode, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (
      compat !== "upstream" || !(err instanceof HttpError) || err.status !== 400 ||
      err.extra.field === undefined
    ) {
      throw err;
    }
    throw new HttpError(
      422,
      err.message,
      { detail: [{ type: "json_invalid", loc: ["body"], msg: "JSON decode error" }] },
      { cause: err },
    );
  }
}

/**
 * Milliseconds since the epoch as the upstream's `time.time()`: float seconds.
 * @example
 * ```ts
 * epochSeconds(1_700_000_000_123); // 1700000000.123
 * ```
 */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}
