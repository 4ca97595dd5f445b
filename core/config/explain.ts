/**
 * Start-up failures told in the configuration's terms: a ConfigError raised while starting (where
 * the value's origin is not known) gets the true source of its setting, a port already in use
 * names the setting, the address and the port, and a missing file names the setting that named it.
 * @module
 */
import { ConfigError, type ConfigSource } from "../errors/mod.ts";
import { getIn } from "./file.ts";
import type { Leaf } from "./leaves.ts";

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
  if (err instanceof Deno.errors.NotFound) return missingFile(err, ctx) ?? err;
  return err;
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
