/**
 * Start-up failures told in the configuration's terms: a ConfigError raised while starting (where
 * the value's origin is not known) gets the true source of its setting, a port already in use
 * names the setting, the address and the port, a store file another process writes names the
 * setting that names it, so does a store file a newer release wrote, and a missing file, or one that cannot be created
 * or opened (a read-only or full disk, a folder in its place), names the setting that named it.
 * @module
 */
import { ConfigError, type ConfigSource, FileInUseError, NewerSchemaError } from "../errors/mod.ts";
import { getIn } from "./file.ts";
import type { Leaf } from "./leaves.ts";
import { HomeNotExpandedError } from "./folder.ts";

/** What {@linkcode explainStartFailure} needs of a loaded config. */
export interface StartContext {
  leaves: readonly Leaf[];
  config: unknown;
  sources: ReadonlyMap<string, ConfigSource>;
}

/**
 * The error to report for `err`, raised while starting a service from `ctx`'s config: the same
 * error, or a ConfigError naming the setting and where its value came from.
 * @example
 * ```ts
 * try { await start(config); } catch (err) { throw explainStartFailure(err, ctx); }
 * ```
 */
export function explainStartFailure(err: unknown, ctx: StartContext): unknown {
  if (err instanceof ConfigError && err.source.kind === "default") {
    const source = ctx.sources.get(err.key);
    if (source && source.kind !== "default") {
      return new ConfigError(err.key, source, err.expected, err.found, { cause: err });
    }
    return err;
  }
  if (err instanceof Deno.errors.AddrInUse) return busyPort(err, ctx) ?? err;
  if (err instanceof FileInUseError) return busyFile(err, ctx) ?? err;
  if (err instanceof NewerSchemaError) return newerFile(err, ctx) ?? err;
  if (err instanceof Deno.errors.NotFound) return missingFile(err, ctx) ?? err;
  return unusableFile(err, ctx) ?? err;
}

/** The path a Deno file error names (`... (os error 2): readfile '/x/y'`). */
function pathOf(err: Error): string | undefined {
  return /: \w+ '([^']+)'$/.exec(err.message.split("\n")[0])?.[1];
}

/** A ConfigError for the path setting whose file does not exist, when one names it. */
function missingFile(err: Error, ctx: StartContext): ConfigError | undefined {
  const missing = pathOf(err);
  if (missing === undefined) return undefined;
  const leaf = ctx.leaves.find((l) => {
    const value = getIn(ctx.config, l.path);
    return value !== undefined && (l.field.grants?.(value) ?? []).some((g) => g.path === missing);
  });
  if (!leaf) return undefined;
  return new ConfigError(
    leaf.key,
    ctx.sources.get(leaf.key) ?? { kind: "default" },
    "an existing file",
    `${missing}: no such file`,
    { cause: err },
  );
}

/** The OS errors that say a file or folder cannot be made or written where a setting puts it. */
const UNUSABLE_OS_ERRORS = new Set([1, 13, 17, 20, 21, 28, 30]); // EPERM EACCES EEXIST ENOTDIR EISDIR ENOSPC EROFS

/** The path and reason of a file `err` (or one of its causes) could not create or open. */
function unusablePath(err: unknown): { path: string; reason: string } | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof HomeNotExpandedError) {
      return { path: e.path, reason: "a leading ~ is not expanded (write the home folder out)" };
    }
    const line = e.message.split("\n")[0];
    const sqlite = /^unable to open database file: (.+)$/.exec(line);
    if (sqlite) return { path: sqlite[1], reason: "SQLite cannot open it" };
    const os = /^(.+) \(os error (\d+)\)/.exec(line);
    const path = pathOf(e);
    if (os && path && UNUSABLE_OS_ERRORS.has(Number(os[2]))) {
      // EPERM: a change only the owner may make (the mode of a folder another user made).
      const why = Number(os[2]) === 1 ? " (another user owns it)" : "";
      return { path, reason: os[1].toLowerCase() + why };
    }
  }
  return undefined;
}

/**
 * A ConfigError for the path setting whose file, or a folder it sits in, could not be created or
 * opened, when one names it (the setting naming that very path first, else one below it, else the
 * folder setting it is in).
 */
function unusableFile(err: unknown, ctx: StartContext): ConfigError | undefined {
  const hit = unusablePath(err);
  if (hit === undefined) return undefined;
  const named = (match: (granted: string) => boolean) =>
    ctx.leaves.find((l) => {
      const value = getIn(ctx.config, l.path);
      return value !== undefined && (l.field.grants?.(value) ?? []).some((g) => match(g.path));
    });
  const leaf = named((p) => p === hit.path) ?? named((p) => p.startsWith(`${hit.path}/`)) ??
    named((p) => hit.path.startsWith(`${p}/`)); // a file the service makes inside a folder setting
  if (!leaf) return undefined;
  return new ConfigError(
    leaf.key,
    ctx.sources.get(leaf.key) ?? { kind: "default" },
    "a path iatp can create and write (a file in a writable folder)",
    `${hit.path}: ${hit.reason}`,
    { cause: err },
  );
}

/**
 * A ConfigError for the setting naming the store file another process writes, or the folder it
 * is in, when one does.
 */
function busyFile(err: FileInUseError, ctx: StartContext): ConfigError | undefined {
  const leaf = storeLeaf(err.path, ctx);
  if (!leaf) return undefined;
  return fileInUseError(leaf.key, ctx.sources.get(leaf.key) ?? { kind: "default" }, err);
}

/** The setting naming the store file `path`, else the folder setting it is in (`iatp up`'s data_dir). */
function storeLeaf(path: string, ctx: StartContext): Leaf | undefined {
  const named = (match: (granted: string) => boolean) =>
    ctx.leaves.find((l) => {
      const value = getIn(ctx.config, l.path);
      return value !== undefined && (l.field.grants?.(value) ?? []).some((g) => match(g.path));
    });
  return named((p) => p === path) ?? named((p) => path.startsWith(`${p}/`));
}

/** A ConfigError for the setting naming the store file a newer release wrote, when one does. */
function newerFile(err: NewerSchemaError, ctx: StartContext): ConfigError | undefined {
  const leaf = storeLeaf(err.path, ctx);
  if (!leaf) return undefined;
  return newerSchemaError(leaf.key, ctx.sources.get(leaf.key) ?? { kind: "default" }, err);
}

/**
 * The ConfigError of setting `key` (from `source`) naming a store a newer release wrote: a file,
 * or (`what`: "a ledger database") a PostgreSQL ledger, named by its URL without the password.
 * @example
 * ```ts
 * throw newerSchemaError("db", { kind: "default" }, err, "a ledger database");
 * ```
 */
export function newerSchemaError(
  key: string,
  source: ConfigSource,
  err: NewerSchemaError,
  what = "a store file",
): ConfigError {
  return new ConfigError(
    key,
    source,
    `${what} of schema version ${err.known} or older (run the release that wrote it, ` +
      "or restore the copy taken before the upgrade)",
    `${err.path} of schema version ${err.found}, written by a newer iatp release`,
    { cause: err },
  );
}

/**
 * The ConfigError of setting `key` (from `source`) whose store file another process writes.
 * @example
 * ```ts
 * throw fileInUseError("agent.base_folder", { kind: "default" }, err);
 * ```
 */
export function fileInUseError(
  key: string,
  source: ConfigSource,
  err: FileInUseError,
): ConfigError {
  return new ConfigError(
    key,
    source,
    "a store file no other running process writes (stop the other one, or give this setting another path)",
    `${err.path} open for writing by another process`,
    { cause: err },
  );
}

/** A ConfigError for the listen port that is taken, when the config has one that is set. */
function busyPort(err: Error, ctx: StartContext): ConfigError | undefined {
  const ports = ctx.leaves.filter((l) =>
    l.field.listenPort && typeof getIn(ctx.config, l.path) === "number" &&
    getIn(ctx.config, l.path) !== 0
  );
  if (ports.length === 0) return undefined;
  const where = ports.map((leaf) => {
    const host = getIn(ctx.config, [...leaf.path.slice(0, -1), "host"]);
    const port = getIn(ctx.config, leaf.path);
    return `${typeof host === "string" ? host : ""}:${port}`;
  });
  const leaf = ports[0];
  return new ConfigError(
    leaf.key,
    ctx.sources.get(leaf.key) ?? { kind: "default" },
    "a port no other process listens on",
    `${where.join(" or ")} already in use`,
    { cause: err },
  );
}
