/**
 * Typed errors and the one place that maps them to HTTP statuses and exit codes.
 *
 * Nothing else in the code base invents a status code or an exit code for an error: throw one of
 * these classes and let {@linkcode httpStatusOf} / {@linkcode exitCodeOf} decide.
 * @module
 */

/** Exit code for bad usage or bad configuration (unknown flag, invalid config value). */
export const EXIT_USAGE = 2;
/** Exit code for a failed check (e.g. a ledger that does not verify). */
const EXIT_FAILED_CHECK = 1;

/** Bad command-line usage: unknown subcommand, unknown flag, missing argument. */
export class UsageError extends Error {
  override name = "UsageError";
  /**
   * @param message what was wrong
   * @param usage usage text to print after the message
   * @param options `cause`: the error behind it
   */
  constructor(message: string, readonly usage?: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Where a configuration value came from. */
export type ConfigSource =
  | { kind: "default" }
  | { kind: "file"; path: string; line?: number; column?: number }
  | { kind: "env"; name: string }
  | { kind: "flag"; name: string };

/** Renders a source for humans: `config.yaml:3`, `env IATP_PORT`, `flag --port`. */
export function describeSource(source: ConfigSource): string {
  switch (source.kind) {
    case "default":
      return "built-in default";
    case "file":
      return source.line ? `${source.path}:${source.line}` : source.path;
    case "env":
      return `env ${source.name}`;
    case "flag":
      return `flag --${source.name}`;
  }
}

/** An invalid configuration: names the key, where the value came from, what was expected and found. */
export class ConfigError extends Error {
  override name = "ConfigError";
  /**
   * @param key the dotted config key, e.g. `store` or `watchdog.cooldown`
   * @param source where the value came from
   * @param expected what the value must be ("an integer from 1 to 65535")
   * @param found what it was (never a secret's value)
   * @param options `cause`: the error behind it
   */
  constructor(
    readonly key: string,
    readonly source: ConfigSource,
    readonly expected: string,
    readonly found: string,
    options?: ErrorOptions,
  ) {
    super(`${key} (${describeSource(source)}): expected ${expected}, found ${found}`, options);
  }
}

/** An error with an HTTP status; `extra` fields are merged into the JSON error body. */
export class HttpError extends Error {
  override name = "HttpError";
  /**
   * @param status the HTTP status
   * @param message the envelope's `error` (never put secrets or internals here)
   * @param extra fields merged into the envelope
   * @param options `cause`: the error behind it (logged, never sent)
   */
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The message of anything thrown: an Error's message, else its string form. For text that
 * goes into another error's message (pass the original as `{ cause }` too) or a log field.
 * @example
 * ```ts
 * try { await Deno.readTextFile(path); } catch (err) {
 *   throw new ConfigError("file", source, "a readable file", errorMessage(err), { cause: err });
 * }
 * ```
 */
export function errorMessage(err: unknown): string {
  if (err instanceof Deno.errors.NotCapable) return refusalText(err.message);
  if (err instanceof TypeError && err.message === "fetch failed" && err.cause instanceof Error) {
    return `fetch failed: ${fetchCause(err.cause.message)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * The first line of {@linkcode errorMessage}, at most 200 characters: a reason for `/health`
 * and other short status text.
 * @example
 * ```ts
 * errorReason(new Error("database or disk is full\nat ...")); // "database or disk is full"
 * ```
 */
export function errorReason(err: unknown): string {
  return errorMessage(err).split("\n")[0].slice(0, 200);
}

/**
 * Why a `fetch` failed, from its cause's text without the URL it names (whose query or user info
 * may hold a credential): `client error (Connect): tcp connect error: Connection refused (os
 * error 111)`. A URL holds no space, so it ends at the first `): `.
 */
function fetchCause(text: string): string {
  const line = text.split("\n")[0];
  const m = /^error sending request for url \(\S*\): /.exec(line);
  const why = m ? line.slice(m[0].length) : line;
  return why.length > 200 ? `${why.slice(0, 200)}...` : why;
}

/**
 * Deno's refusal of a permission (`Requires read access to "/x", run again with the --allow-read
 * flag`) in iatp's terms: iatp's launchers grant paths by the settings that name them and by
 * IATP_ALLOW_READ / IATP_ALLOW_WRITE, never by a Deno flag. Other text is returned as it is.
 * @example
 * ```ts
 * refusalText('Requires write access to "/x", run again with the --allow-write flag');
 * // 'may not write /x (name it in the settings, or allow it with IATP_ALLOW_WRITE=/x)'
 * ```
 */
export function refusalText(denoMessage: string): string {
  const r = parseRefusal(denoMessage);
  if (!r) return denoMessage;
  const { what, target } = r;
  if (what === "read" || what === "write") {
    const allow = what === "read" ? "IATP_ALLOW_READ" : "IATP_ALLOW_WRITE";
    return `may not ${what} ${target} (name it in the settings, or allow it with ${allow}=${target})`;
  }
  return `${what} access to ${target} is not granted to this command`;
}

/**
 * A storage engine the request needs (PostgreSQL, Redis) cannot be reached right now: HTTP 503
 * with `Retry-After`. The message names the engine by its URL without a password.
 */
export class UnavailableError extends HttpError {
  override name = "UnavailableError";
  /**
   * @param message what is unavailable (never a secret)
   * @param retryAfterSeconds what the answer's `Retry-After` says
   * @param options `cause`: the error behind it (logged, never sent)
   */
  constructor(message: string, readonly retryAfterSeconds: number, options?: ErrorOptions) {
    super(503, message, {}, options);
  }
}

/**
 * A store file another process already writes (it holds the file's writer lock): starting a
 * second writer on it is a configuration error of the setting that names the file.
 */
export class FileInUseError extends Error {
  override name = "FileInUseError";
  /** @param path the store file */
  constructor(readonly path: string) {
    super(`${path} is open for writing by another process`);
  }
}

/**
 * A store written by a newer iatp release: its schema version (SQLite's `user_version`, the
 * PostgreSQL ledger's `schema_version` row) is past the one this release reads. Nothing is written to it; starting on it is a configuration
 * error of the setting that names the file (run the newer release, or restore the copy of the
 * file taken before the upgrade).
 */
export class NewerSchemaError extends Error {
  override name = "NewerSchemaError";
  /**
   * @param path the store file (a PostgreSQL ledger's URL without its password)
   * @param found its schema version
   * @param known the newest schema version of this store that this release reads
   */
  constructor(readonly path: string, readonly found: number, readonly known: number) {
    super(
      `${path} has schema version ${found}, written by a newer iatp release ` +
        `(this one reads up to ${known})`,
    );
  }
}

/** A failed verification or check (exit 1), e.g. a tampered ledger. */
export class CheckFailedError extends Error {
  override name = "CheckFailedError";
}

/** HTTP status for any thrown value: HttpError keeps its own, zod-like validation errors are 400. */
export function httpStatusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof ConfigError || err instanceof UsageError) return 400;
  if (isValidationError(err)) return 400;
  if (err instanceof SyntaxError) return 400;
  return 500;
}

/** Exit code for any thrown value reaching the top of a CLI command. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof ConfigError) return EXIT_USAGE;
  if (err instanceof FileInUseError || err instanceof NewerSchemaError) return EXIT_USAGE;
  if (err instanceof CheckFailedError) return EXIT_FAILED_CHECK;
  return 1;
}

/** True for zod's ZodError (checked structurally so core/errors depends on nothing). */
export function isValidationError(
  err: unknown,
): err is { issues: Array<{ path: PropertyKey[]; message: string; code?: string }> } {
  return typeof err === "object" && err !== null &&
    (err as { name?: string }).name === "ZodError" &&
    Array.isArray((err as { issues?: unknown }).issues);
}

/**
 * The kind of access (read, write, net, env, ...) and its target in Deno's refusal text, or
 * undefined when `denoMessage` is not one.
 * @example
 * ```ts
 * parseRefusal('Requires env access to "HOME", run again with the --allow-env flag');
 * // { what: "env", target: "HOME" }
 * ```
 */
export function parseRefusal(denoMessage: string): { what: string; target: string } | undefined {
  const m = /^Requires (\w+) access to "([^"]+)"/.exec(denoMessage);
  return m ? { what: m[1], target: m[2] } : undefined;
}
