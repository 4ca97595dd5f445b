/**
 * Start-up failures told in the configuration's terms: a ConfigError raised while starting (where
 * the value's origin is not known) gets the true source of its setting, and a port already in use
 * names the setting, the address and the port.
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
  return err;
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
