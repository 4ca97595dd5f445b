/** defineConfig: one declaration gives the flag parser, env names, usage text and checks. @module */
import { parseArgs } from "node:util";
import { ConfigError, type ConfigSource, describeSource, UsageError } from "../errors/mod.ts";
import { registerSecret } from "../log/mod.ts";
import type { ExpandOptions } from "./expand.ts";
import { permittedEnv } from "./env.ts";
import type { Infer, Shape } from "./fields.ts";
import { describeFound, type EnvReader, type FileRules, getIn, loadFile, setIn } from "./file.ts";
import { type Leaf, leaves } from "./leaves.ts";
import { usageText } from "./usage.ts";

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
  /** Cross-field checks; throw ConfigError to reject, call `warn` for a start-up warning. */
  check?: (config: Infer<S>, sources: SourceMap, warn: (message: string) => void) => void;
  /**
   * Keys a config file may carry that this command does not use (another system's vocabulary):
   * dotted keys, or `prefix.*` for a whole subtree. They are accepted and listed in one
   * start-up warning; any other unknown key is still an error.
   */
  tolerated?: readonly string[];
  /** Expand `${VAR}` / `${VAR:-default}` in the file's string values (and `{NAME}` placeholders). */
  expand?: (values: Record<string, unknown>) => Omit<ExpandOptions, "env">;
}

/** Where each leaf value came from, by dotted key. */
export type SourceMap = Map<string, ConfigSource>;

/** A loaded config. */
export type Loaded<S extends Shape> =
  | {
    help: false;
    config: Infer<S>;
    sources: SourceMap;
    positionals: string[];
    /** Start-up warnings (tolerated keys ignored, settings relaxed); log each once. */
    warnings?: string[];
  }
  /** `--help` was given: nothing was loaded. */
  | { help: true; positionals: string[] };

/** Options for {@linkcode Config.parse}. */
export interface ParseOptions {
  env?: EnvReader;
  /** Reads a config file; default Deno.readTextFileSync. */
  readFile?: (path: string) => string;
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

  const tolerated = new Set(spec.tolerated ?? []);
  const finish = (
    values: Record<string, unknown>,
    sources: SourceMap,
    warnings: string[] = [],
  ): Infer<S> => {
    const config = values as Infer<S>;
    for (const leaf of all) {
      if (!leaf.field.secret) continue;
      const value = getIn(config, leaf.path);
      if (typeof value === "string") registerSecret(value);
    }
    spec.check?.(config, sources, (m) => warnings.push(m));
    return config;
  };

  const usage = (): string => usageText(spec, all, configEnv);

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
      throw new UsageError(msg, usage(), { cause: err });
    }
    const flags = parsed.values;
    if (flags.help) {
      return { help: true, positionals: parsed.positionals };
    }
    const configPath = typeof flags.config === "string" ? flags.config : env(configEnv);
    const rules: FileRules = { tolerated, ignored: [], expand: spec.expand, env };
    const file = configPath ? loadFile(configPath, spec.fields, read, rules) : undefined;
    const warnings: string[] = [];
    if (rules.ignored.length > 0) {
      warnings.push(`config keys accepted but not used by iatp: ${rules.ignored.join(", ")}`);
    }

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
      config: finish(values, sources, warnings),
      sources,
      positionals: parsed.positionals,
      help: false,
      warnings,
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
