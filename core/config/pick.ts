/**
 * Picking one setting's raw value from the layers, highest first: flag, env var, config file,
 * default; under each, the setting's own name first, then its other names (an upstream env name,
 * a deprecated flag, env var or key). Also how a refused value is described without echoing a
 * secret.
 * @module
 */
import type { ConfigSource } from "../errors/mod.ts";
import type { Field } from "./fields.ts";
import { describeFound, type EnvReader, type FileLayer, getIn } from "./file.ts";
import type { Alias, Leaf } from "./leaves.ts";

/** A leaf's raw value, where it came from, and the other name it was given under, if any. */
export interface Picked {
  raw: unknown;
  source: ConfigSource;
  alias?: Alias;
}

/** What {@linkcode pickRaw} reads. */
export interface Layers {
  flags: Record<string, unknown>;
  env: EnvReader;
  file: FileLayer | undefined;
}

const BARE_NUMBER = /^\d+(\.\d+)?$/;

/** A bare number given under a name with a unit gets that unit (`30` under `..._SECS` is `30s`). */
function withUnit(raw: unknown, alias: Alias | undefined): unknown {
  if (!alias?.unit) return raw;
  if (typeof raw === "number" || (typeof raw === "string" && BARE_NUMBER.test(raw.trim()))) {
    return `${String(raw).trim()}${alias.unit}`;
  }
  return raw;
}

function fromFlags(leaf: Leaf, flags: Record<string, unknown>): Picked | undefined {
  const names: Array<[string, Alias | undefined]> = [
    ...(leaf.flag ? [[leaf.flag, undefined] as [string, undefined]] : []),
    ...leaf.aliases.filter((a) => a.via === "flag").map((a) => [a.name, a] as [string, Alias]),
  ];
  for (const [name, alias] of names) {
    if (leaf.field.boolean && flags[`no-${name}`]) {
      return { raw: false, source: { kind: "flag", name: `no-${name}` }, alias };
    }
    if (flags[name] !== undefined) {
      return { raw: withUnit(flags[name], alias), source: { kind: "flag", name }, alias };
    }
  }
  return undefined;
}

function fromEnv(leaf: Leaf, env: EnvReader): Picked | undefined {
  const names: Array<[string, Alias | undefined]> = [
    ...(leaf.env ? [[leaf.env, undefined] as [string, undefined]] : []),
    ...leaf.aliases.filter((a) => a.via === "env").map((a) => [a.name, a] as [string, Alias]),
  ];
  for (const [name, alias] of names) {
    const value = env(name);
    if (value !== undefined && value !== "") {
      return { raw: withUnit(value, alias), source: { kind: "env", name }, alias };
    }
  }
  return undefined;
}

function fromFile(leaf: Leaf, file: FileLayer): Picked | undefined {
  const paths: Array<[string[], Alias | undefined]> = [
    [leaf.path, undefined],
    ...leaf.aliases.filter((a) => a.via === "key").map((a) =>
      [a.name.split("."), a] as [string[], Alias]
    ),
  ];
  for (const [path, alias] of paths) {
    const value = getIn(file.values, path);
    if (value !== undefined && value !== null) {
      return {
        raw: withUnit(value, alias),
        source: { kind: "file", path: file.path, line: file.lineOf(path) },
        alias,
      };
    }
  }
  return undefined;
}

/** The raw value of `leaf`: flag > env > file > default, own name before other names. */
export function pickRaw(leaf: Leaf, layers: Layers): Picked {
  return fromFlags(leaf, layers.flags) ?? fromEnv(leaf, layers.env) ??
    (layers.file ? fromFile(leaf, layers.file) : undefined) ??
    { raw: undefined, source: { kind: "default" } };
}

/**
 * What a refused value was, for the error message: the value itself, or for a secret only its
 * size (`(secret, 23 chars)`), so a mistyped credential never reaches a terminal or a log.
 * @example
 * ```ts
 * rawFound(str({ help: "t", secret: true }), "abc"); // "(secret, 3 chars)"
 * ```
 */
export function rawFound(field: Field<unknown>, raw: unknown): string {
  if (!field.secret || raw === undefined || raw === null) return describeFound(raw);
  const text = typeof raw === "string" ? raw : JSON.stringify(raw) ?? "";
  return secretShape(text);
}

/**
 * A URL's password shown as `(secret)` (everything between the user's `:` and the last `@`, so a
 * password with an unencoded `/`, `?` or `#` too; never its size), and so are a NATS URL's token
 * (a `nats://` or `tls://` user info without `:`, up to the last `@`) and its secret query
 * parameters; any other text as it is. For settings that are URLs, not secrets,
 * which may still carry one.
 * @example
 * ```ts
 * withoutUrlSecrets("postgres://app:s3cret@db/iatp"); // "postgres://app:(secret)@db/iatp"
 * ```
 */
export function withoutUrlSecrets(text: string): string {
  let out = text;
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^]*)@/i.exec(text);
  const colon = m ? m[2].indexOf(":") : -1;
  if (m && colon >= 0) {
    out = `${m[1]}${m[2].slice(0, colon)}:(secret)@${text.slice(m[0].length)}`;
  } else if (m && /^(nats|tls):/i.test(text)) {
    // A NATS URL's lone user info is its token (`nats://s3cret@host`), not a user name.
    out = `${m[1]}(secret)@${text.slice(m[0].length)}`;
  }
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text)
    ? out.replace(/([?&](?:password|pass|sslpassword|token)=)[^&#]*/gi, "$1(secret)")
    : out;
}

/**
 * How `iatp config show` gives a secret setting's value: that it is set and, for a `file:PATH`
 * reference (`fileRef`, a setting that reads one), the file it is read from; never its size, nor
 * the size of the reference.
 * @example
 * ```ts
 * secretSetting("file:/etc/iatp/relay.token", true); // "(secret, in file:/etc/iatp/relay.token)"
 * secretSetting("s3cret", true); // "(secret, set)"
 * ```
 */
export function secretSetting(value: unknown, fileRef: boolean): string {
  if (fileRef && typeof value === "string" && value.startsWith("file:")) {
    return `(secret, in ${value})`;
  }
  return "(secret, set)";
}

/** `(secret, N chars)`: how a refused secret value is shown in an error. */
export function secretShape(text: string): string {
  return `(secret, ${[...text].length} chars)`;
}
