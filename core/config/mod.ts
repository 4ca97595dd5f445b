/**
 * Layered configuration: built-in defaults < YAML file (`--config PATH`) < environment < flags.
 *
 * A config is declared once as a {@linkcode Shape} of typed fields; the same declaration gives
 * the flag parser, the env var names, the usage text and the zod validation. Every error is a
 * {@linkcode ConfigError} naming the key, its source (file:line, env var or flag), what was
 * expected and what was found.
 *
 * @example
 * ```ts
 * const spec = defineConfig({
 *   command: "relay", summary: "SSE pub/sub", envPrefix: "IATP_RELAY_",
 *   fields: { port: port({ help: "listen port", default: 8005 }) },
 * });
 * const result = spec.parse(["--port", "9000"]);
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Node as YamlNode } from "yaml";
import { ConfigError, type ConfigSource, describeSource, UsageError } from "../errors/mod.ts";
import { registerSecret } from "../log/mod.ts";
import type { Field, Infer, Section, Shape } from "./fields.ts";

export * from "./fields.ts";

/** A config declaration. */
export interface ConfigSpec<S extends Shape> {
  /** Subcommand name, for usage and messages. */
  command: string;
  /** One line on what the subcommand does. */
  summary: string;
  /** Prefix for derived env var names, e.g. `IATP_RELAY_`. */
  envPrefix: string;
  fields: S;
  /** Extra usage lines (positional arguments, sub-verbs), printed before the flags. */
  usageLines?: string[];
  /** Whether positional arguments are allowed (returned in `positionals`). */
  positionals?: boolean;
  /** Cross-field checks; throw ConfigError to reject. */
  check?: (config: Infer<S>, sources: SourceMap) => void;
}

/** Where each leaf value came from, by dotted key. */
export type SourceMap = Map<string, ConfigSource>;

/** A loaded config. */
export interface Loaded<S extends Shape> {
  config: Infer<S>;
  sources: SourceMap;
  positionals: string[];
  help: boolean;
}

/** Reads an env var; returns undefined for unset or not permitted. */
export type EnvReader = (name: string) => string | undefined;

/** Options for {@linkcode Config.parse}. */
export interface ParseOptions {
  env?: EnvReader;
  /** Reads a config file; default Deno.readTextFileSync. */
  readFile?: (path: string) => string;
}

interface Leaf {
  key: string;
  path: string[];
  field: Field<unknown>;
  env: string | undefined;
  flag: string | undefined;
}

/** A declared config: parse argv, resolve in-process overrides, print usage. */
export interface Config<S extends Shape> {
  readonly spec: ConfigSpec<S>;
  /** Parses argv (flags after the subcommand), reading env and the YAML file. */
  parse(argv: string[], opts?: ParseOptions): Loaded<S>;
  /** Defaults overlaid with an in-process partial config (for `iatp up` and tests). */
  resolve(overrides?: DeepPartial<Infer<S>>): Infer<S>;
  /** Usage text listing every flag with its env var and default. */
  usage(): string;
  /** Every env var name this config reads. */
  envNames(): string[];
}

/** Recursive Partial. */
export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K];
};

/** Env reader that asks for permission first, so an ungranted variable reads as unset. */
export function permittedEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function kebab(s: string): string {
  return s.replace(/_/g, "-").replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

function leaves(shape: Shape, prefix: string[], envPrefix: string, out: Leaf[]): Leaf[] {
  for (const [name, node] of Object.entries(shape)) {
    const path = [...prefix, name];
    if (node.kind === "section") {
      leaves((node as Section<Shape>).fields, path, envPrefix, out);
      continue;
    }
    const key = path.join(".");
    const derivedEnv = envPrefix + path.map((p) => kebab(p).replace(/-/g, "_")).join("_")
      .toUpperCase();
    out.push({
      key,
      path,
      field: node,
      env: node.env === false ? undefined : node.env ?? derivedEnv,
      flag: node.flag === false ? undefined : node.flag ?? path.map(kebab).join("-"),
    });
  }
  return out;
}

function describeFound(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return `string ${JSON.stringify(truncate(value, 80))}`;
  if (Array.isArray(value)) return `a list ${truncate(JSON.stringify(value), 80)}`;
  if (typeof value === "object") return `a mapping ${truncate(JSON.stringify(value), 80)}`;
  return `${typeof value} ${String(value)}`;
}

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) + "..." : s;
}

function setIn(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    cur[p] ??= {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

function getIn(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** Parsed YAML file: plain values plus a way to find each key's line. */
interface FileLayer {
  path: string;
  values: Record<string, unknown>;
  lineOf(path: string[]): number | undefined;
}

function loadFile(path: string, shape: Shape, read: (p: string) => string): FileLayer {
  const fileSource: ConfigSource = { kind: "file", path };
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied
      ? "no permission to read it"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new ConfigError("config", fileSource, "a readable YAML file", why);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = lc.linePos(e.pos[0]).line;
    throw new ConfigError(
      "config",
      { kind: "file", path, line },
      "valid YAML",
      truncate(e.message.split("\n")[0], 120),
    );
  }
  const lineOf = (p: string[]): number | undefined => {
    const node = doc.getIn(p, true) as YamlNode | undefined;
    const range = node?.range;
    if (range) return lc.linePos(range[0]).line;
    return undefined;
  };
  if (doc.contents === null) return { path, values: {}, lineOf };
  if (!isMap(doc.contents)) {
    throw new ConfigError("config", fileSource, "a YAML mapping of keys", "a non-mapping document");
  }
  const values = doc.toJS() as Record<string, unknown>;
  checkUnknownKeys(doc.contents, shape, [], path, lc);
  return { path, values, lineOf };
}

// deno-lint-ignore no-explicit-any
function checkUnknownKeys(map: any, shape: Shape, prefix: string[], file: string, lc: LineCounter) {
  for (const pair of map.items) {
    const keyNode = pair.key;
    const name = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
    const line = keyNode?.range ? lc.linePos(keyNode.range[0]).line : undefined;
    const node = shape[name];
    const key = [...prefix, name].join(".");
    if (!node) {
      throw new ConfigError(
        key,
        { kind: "file", path: file, line },
        `one of the known keys (${Object.keys(shape).join(", ")})`,
        `unknown key "${name}"`,
      );
    }
    if (node.kind === "section") {
      if (isMap(pair.value)) {
        checkUnknownKeys(pair.value, (node as Section<Shape>).fields, [...prefix, name], file, lc);
      } else if (pair.value !== null && !(isScalar(pair.value) && pair.value.value === null)) {
        throw new ConfigError(
          key,
          { kind: "file", path: file, line },
          "a mapping",
          isSeq(pair.value)
            ? "a list"
            : describeFound(isScalar(pair.value) ? pair.value.value : ""),
        );
      }
    }
  }
}

/** Declares a config. */
export function defineConfig<S extends Shape>(spec: ConfigSpec<S>): Config<S> {
  const all = leaves(spec.fields, [], spec.envPrefix, []);
  const configEnv = `${spec.envPrefix}CONFIG`;

  const validate = (leaf: Leaf, raw: unknown, source: ConfigSource): unknown => {
    const value = leaf.field.coerce(raw);
    const r = leaf.field.schema.safeParse(value);
    if (!r.success) {
      throw new ConfigError(leaf.key, source, leaf.field.expected, describeFound(raw));
    }
    return r.data;
  };

  const finish = (values: Record<string, unknown>, sources: SourceMap): Infer<S> => {
    const config = values as Infer<S>;
    for (const leaf of all) {
      if (leaf.field.secret) registerSecret(getIn(config, leaf.path) as string | undefined);
    }
    spec.check?.(config, sources);
    return config;
  };

  const usage = (): string => {
    const rows: Array<[string, string, string]> = [];
    rows.push(["--config PATH", "YAML config file", `env ${configEnv}`]);
    for (const leaf of all) {
      if (!leaf.flag) continue;
      const f = leaf.field;
      const left = f.boolean ? `--[no-]${leaf.flag}` : `--${leaf.flag} ${f.metavar}`;
      const def = f.secret
        ? "(secret)"
        : f.default === undefined
        ? "unset"
        : JSON.stringify(f.default);
      rows.push([left, f.help, `${leaf.env ? `env ${leaf.env}  ` : ""}default ${def}`]);
    }
    for (const leaf of all) {
      if (leaf.flag) continue;
      rows.push([`(file) ${leaf.key}`, leaf.field.help, leaf.env ? `env ${leaf.env}` : ""]);
    }
    rows.push(["-h, --help", "show this help", ""]);
    const w = Math.min(34, Math.max(...rows.map((r) => r[0].length)) + 2);
    const lines = [
      `Usage: iatp ${spec.command} [flags]`,
      ...(spec.usageLines ?? []).map((l) => `       ${l}`),
      "",
      spec.summary,
      "",
      "Flags (precedence: flag > env > config file > default):",
      ...rows.map(([l, h, e]) => {
        const head = `  ${l.padEnd(w)}`;
        const tail = e ? `  [${e}]` : "";
        return head.length > w + 2 ? `  ${l}\n  ${"".padEnd(w)}${h}${tail}` : `${head}${h}${tail}`;
      }),
    ];
    return lines.join("\n");
  };

  const parse = (argv: string[], opts: ParseOptions = {}): Loaded<S> => {
    const env = opts.env ?? permittedEnv;
    const read = opts.readFile ?? ((p: string) => Deno.readTextFileSync(p));
    type Opt = { type: "string" | "boolean"; multiple?: boolean; short?: string };
    const options: Record<string, Opt> = {
      config: { type: "string" },
      help: { type: "boolean", short: "h" },
    };
    for (const leaf of all) {
      if (!leaf.flag) continue;
      if (leaf.field.boolean) {
        options[leaf.flag] = { type: "boolean" };
        options[`no-${leaf.flag}`] = { type: "boolean" };
      } else {
        options[leaf.flag] = { type: "string", multiple: leaf.field.multiple };
      }
    }
    let parsed: { values: Record<string, unknown>; positionals: string[] };
    try {
      parsed = parseArgs({
        args: argv,
        options,
        strict: true,
        allowPositionals: spec.positionals ?? false,
      }) as typeof parsed;
    } catch (err) {
      const msg = err instanceof Error ? err.message.split("\n")[0] : String(err);
      throw new UsageError(msg, usage());
    }
    const flags = parsed.values;
    if (flags.help) {
      return {
        config: {} as Infer<S>,
        sources: new Map(),
        positionals: parsed.positionals,
        help: true,
      };
    }
    const configPath = (flags.config as string | undefined) ?? env(configEnv);
    const file = configPath ? loadFile(configPath, spec.fields, read) : undefined;

    const values: Record<string, unknown> = {};
    const sources: SourceMap = new Map();
    for (const leaf of all) {
      let raw: unknown = undefined;
      let source: ConfigSource = { kind: "default" };
      const flagVal = leaf.flag ? flags[leaf.flag] : undefined;
      const negated = leaf.flag && leaf.field.boolean ? flags[`no-${leaf.flag}`] : undefined;
      const envVal = leaf.env ? env(leaf.env) : undefined;
      const fileVal = file ? getIn(file.values, leaf.path) : undefined;
      if (negated) {
        raw = false;
        source = { kind: "flag", name: `no-${leaf.flag}` };
      } else if (flagVal !== undefined) {
        raw = flagVal;
        source = { kind: "flag", name: leaf.flag! };
      } else if (envVal !== undefined && envVal !== "") {
        raw = envVal;
        source = { kind: "env", name: leaf.env! };
      } else if (fileVal !== undefined && fileVal !== null) {
        raw = fileVal;
        source = { kind: "file", path: file!.path, line: file!.lineOf(leaf.path) };
      }
      if (source.kind === "default") {
        if (leaf.field.default !== undefined) setIn(values, leaf.path, leaf.field.default);
        else setIn(values, leaf.path, undefined);
      } else {
        setIn(values, leaf.path, validate(leaf, raw, source));
      }
      sources.set(leaf.key, source);
    }
    return {
      config: finish(values, sources),
      sources,
      positionals: parsed.positionals,
      help: false,
    };
  };

  const resolve = (overrides: DeepPartial<Infer<S>> = {}): Infer<S> => {
    const values: Record<string, unknown> = {};
    const sources: SourceMap = new Map();
    for (const leaf of all) {
      const given = getIn(overrides, leaf.path);
      if (given !== undefined) {
        const source: ConfigSource = { kind: "flag", name: leaf.flag ?? leaf.key };
        setIn(values, leaf.path, validate(leaf, given, source));
        sources.set(leaf.key, source);
      } else {
        setIn(values, leaf.path, leaf.field.default);
        sources.set(leaf.key, { kind: "default" });
      }
    }
    return finish(values, sources);
  };

  return {
    spec,
    parse,
    resolve,
    usage,
    envNames: () => [configEnv, ...all.flatMap((l) => (l.env ? [l.env] : []))],
  };
}

/** Formats a ConfigError as the one line a CLI prints. */
export function formatConfigError(command: string, err: ConfigError): string {
  return `iatp ${command}: config error: ${err.key} (${
    describeSource(err.source)
  }): expected ${err.expected}, found ${err.found}`;
}
