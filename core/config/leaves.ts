/**
 * The naming scheme and the leaves of a config shape: each field with its dotted key, its one
 * env var (`IATP_<COMMAND>_<KEY>`), its one flag, and the other names it is also read under
 * (an upstream system's env names, and deprecated names kept for one release).
 * @module
 */
import type { Field, Section, Shape } from "./fields.ts";

/** A unit a bare number is in when given under an alias (`POLLING_TIMEOUT_SECS=30`). */
export type AliasUnit = "ms" | "s";

/** Another name a setting is read under. */
export interface AliasName {
  name: string;
  /** A bare number given under this name is in this unit (for durations). */
  unit?: AliasUnit;
}

/** One or more other names, as a spec writes them. */
export type AliasNames = string | AliasName | ReadonlyArray<string | AliasName>;

/**
 * Where a name comes from: `upstream`, the name of the system this command replaces (read
 * quietly, documented as such); `deprecated`, a name iatp used before (read for one release,
 * and each use warns naming the new one).
 */
export type AliasKind = "upstream" | "deprecated";

/** One other name of a leaf. */
export interface Alias extends AliasName {
  kind: AliasKind;
  via: "env" | "flag" | "key";
}

/** One field of a shape, where it sits and what it is called on the command line and in env. */
export interface Leaf {
  key: string;
  path: string[];
  field: Field<unknown>;
  /** The env var (`IATP_<COMMAND>_<KEY>`), unless the field has none. */
  env: string | undefined;
  /** The flag (no dashes), unless the field has none. */
  flag: string | undefined;
  /** Other names, in the order they are tried (upstream before deprecated). */
  aliases: Alias[];
}

/** Variables every command reads, outside any command's namespace. */
export const GLOBAL_ENV: Readonly<Record<string, string>> = {
  IATP_DATA_DIR: "the data folder: default folder of every file a service writes (default ./data)",
  IATP_ALLOW_READ: "launcher: extra paths every command may read (comma-separated)",
  IATP_ALLOW_WRITE: "launcher: extra paths every command may write (comma-separated)",
  IATP_FILE_READ_TIMEOUT: "how long a read of a file a setting names (the config file, a " +
    "file:PATH credential, a key, certificate, token, NATS .creds or manifest file) waits for " +
    "its data, a DURATION from 1ms to 1h (default 5s): past it the start stops, naming the file " +
    "(exit 2); a revocation file re-read while running keeps its last ids, a project's compose " +
    "file is a 400",
};

/**
 * The env var prefix of a command: `IATP_`, the command name upper-cased with `-` and spaces
 * as `_`, then `_`.
 * @example
 * ```ts
 * envPrefixOf("compose-agent"); // "IATP_COMPOSE_AGENT_"
 * envPrefixOf("audit verify"); // "IATP_AUDIT_VERIFY_"
 * ```
 */
export function envPrefixOf(command: string): string {
  return `IATP_${command.toUpperCase().replace(/[- ]/g, "_")}_`;
}

function kebab(s: string): string {
  return s.replace(/_/g, "-").replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

/** The env var of the key at `path` under `envPrefix`: `IATP_RELAY_MAX_TOPICS`. */
export function envNameOf(envPrefix: string, path: readonly string[]): string {
  return envPrefix + path.map((p) => kebab(p).replace(/-/g, "_")).join("_").toUpperCase();
}

function isSection(node: Field<unknown> | Section<Shape>): node is Section<Shape> {
  return node.kind === "section";
}

/** Every field of `shape`, depth first, with its env var and flag (aliases empty). */
export function leaves(shape: Shape, prefix: string[], envPrefix: string, out: Leaf[]): Leaf[] {
  for (const [name, node] of Object.entries(shape)) {
    const path = [...prefix, name];
    if (isSection(node)) {
      leaves(node.fields, path, envPrefix, out);
      continue;
    }
    out.push({
      key: path.join("."),
      path,
      field: node,
      env: node.env === false ? undefined : envNameOf(envPrefix, path),
      flag: node.flag === false ? undefined : node.flag ?? path.map(kebab).join("-"),
      aliases: [],
    });
  }
  return out;
}

/** The names of an {@linkcode AliasNames}, each with its unit. */
export function aliasNames(names: AliasNames): AliasName[] {
  const list = typeof names === "string" || !Array.isArray(names)
    ? [names as string | AliasName]
    : names as ReadonlyArray<string | AliasName>;
  return list.map((n) => typeof n === "string" ? { name: n } : n);
}

/** Per dotted key, the other names a command's settings are read under. */
export type AliasMap = Readonly<Record<string, AliasNames>>;

/**
 * Attaches aliases to `all` (in place): upstream env names, then deprecated flags, env names
 * and keys.
 * @throws {RangeError} when a map names a key the shape does not have (a spec mistake).
 */
export function attachAliases(
  command: string,
  all: Leaf[],
  maps: { kind: AliasKind; via: Alias["via"]; map: AliasMap | undefined }[],
): void {
  const byKey = new Map(all.map((l) => [l.key, l]));
  for (const { kind, via, map } of maps) {
    for (const [key, names] of Object.entries(map ?? {})) {
      const leaf = byKey.get(key);
      if (!leaf) throw new RangeError(`${command}: an alias names the unknown key ${key}`);
      for (const n of aliasNames(names)) leaf.aliases.push({ ...n, kind, via });
    }
  }
}
