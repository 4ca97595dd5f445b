/** defineConfig: one declaration gives the flag parser, env names, usage text and checks. @module */
import { ConfigError, type ConfigSource, describeSource, UsageError } from "../errors/mod.ts";
import { printable, registerSecret } from "../log/mod.ts";
import type { ExpandOptions } from "./expand.ts";
import { flagErrorLine, type FlagOption, parseArgv } from "./argv.ts";
import { DATA_DIR, permittedEnv } from "./env.ts";
import { isPipe, readFileRefsAhead, readTextWithin } from "./read_bounded.ts";
import { HOME_UNEXPANDED, type Infer, type PathGrant, type Shape } from "./fields.ts";
import {
  describeFound,
  type EnvReader,
  type FileLayer,
  type FileRules,
  getIn,
  loadFile,
  setIn,
} from "./file.ts";
import {
  type Alias,
  type AliasMap,
  attachAliases,
  envPrefixOf,
  type Leaf,
  leaves,
} from "./leaves.ts";
import { type Picked, pickRaw, rawFound } from "./pick.ts";
import { usageText } from "./usage.ts";

/** A config declaration. */
export interface ConfigSpec<S extends Shape> {
  /** Subcommand name, for usage and messages; its env vars are `IATP_<COMMAND>_<KEY>`. */
  command: string;
  /** One line on what the subcommand does. */
  summary: string;
  fields: S;
  /** Extra usage lines (positional arguments, sub-verbs), printed before the flags. */
  usageLines?: string[];
  /** Whether positional arguments are allowed (returned in `positionals`). */
  positionals?: boolean;
  /**
   * Cross-field checks; throw ConfigError to reject, call `warn` for a start-up warning. A check
   * that reads a file a setting names may return a promise (to import its parser only then);
   * {@linkcode Config.resolve} refuses a config whose check does.
   */
  check?: (
    config: Infer<S>,
    sources: SourceMap,
    warn: (message: string) => void,
  ) => void | Promise<void>;
  /**
   * Keys a config file may carry that this command does not use (another system's vocabulary):
   * dotted keys, or `prefix.*` for a whole subtree. They are accepted and listed in one
   * start-up warning; any other unknown key is still an error.
   */
  tolerated?: readonly string[];
  /** Expand `${VAR}` / `${VAR:-default}` in the file's string values (and `{NAME}` placeholders). */
  expand?: (values: Record<string, unknown>) => Omit<ExpandOptions, "env">;
  /**
   * The system this command replaces and, by dotted key, the env names of that system it still
   * reads (after its own `IATP_<COMMAND>_<KEY>`). No other command reads them.
   */
  upstream?: {
    system: string;
    env: AliasMap;
    /** That system's config file keys (dotted) for a setting, read as this command's own. */
    keys?: AliasMap;
  };
  /** Names iatp used before, by dotted key: read for one release, each use warns. */
  deprecated?: { flags?: AliasMap; env?: AliasMap; keys?: AliasMap };
  /** Paths the configuration names besides its path fields' values (derived defaults). */
  grants?: (config: Infer<S>) => PathGrant[];
  /**
   * The `file:PATH` settings (dotted keys) whose files the start does not read with `config`,
   * because what uses them is off (a Redis password without a Redis URL). `iatp config check`
   * reads the file of every other `file:PATH` setting that is set, as the start does.
   */
  unreadFileRefs?: (config: Infer<S>) => readonly string[];
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
    /** Start-up warnings (tolerated keys ignored, deprecated names, settings relaxed). */
    warnings?: string[];
  }
  /** `--help` was given: nothing was loaded. */
  | { help: true; positionals: string[] };

/** Options for {@linkcode Config.parse}. */
export interface ParseOptions {
  env?: EnvReader;
  /** Reads a config file; default readTextWithin (bounded in size and in time). */
  readFile?: (path: string) => string | Promise<string>;
}

/** A declared config: parse argv, resolve in-process overrides, print usage. */
export interface Config<S extends Shape> {
  readonly spec: ConfigSpec<S>;
  /** `IATP_<COMMAND>_`: every env var of this command starts with it. */
  readonly envPrefix: string;
  /**
   * Parses argv (flags after the subcommand), reading env and the YAML file (asynchronous: the
   * YAML parser is imported only when a file is named).
   * @throws {ConfigError} for a value a setting does not accept, or a file that does not load
   * @throws {UsageError} for an unknown flag or a stray argument
   */
  parse(argv: string[], opts?: ParseOptions): Promise<Loaded<S>>;
  /**
   * Defaults overlaid with an in-process partial config (for `iatp up` and tests).
   * @throws {ConfigError} for a value a setting does not accept
   * @throws {Error} when the config's check has a file to read (it returned a promise):
   * use resolveAsync()
   */
  resolve(overrides?: DeepPartial<Infer<S>>): Infer<S>;
  /**
   * resolve(), waiting for the config's check when it reads a file (a sidecar's manifest).
   * @throws {ConfigError} for a value a setting does not accept, or a file that does not load
   */
  resolveAsync(overrides?: DeepPartial<Infer<S>>): Promise<Infer<S>>;
  /** Usage text listing every flag with its env var and default. */
  usage(): string;
  /** Every env var name this config reads (its own, then upstream and deprecated names). */
  envNames(): string[];
  /** Every setting with its names. */
  leaves(): readonly Leaf[];
  /**
   * The files and folders an argv and environment name (the config file, every path setting,
   * every `file:PATH` credential), resolved leniently: a value that does not parse names
   * nothing here, and the command itself reports it when it starts.
   */
  grants(argv: string[], opts?: ParseOptions): Promise<PathGrant[]>;
  /** The `file:PATH` settings the start does not read with `config` (see ConfigSpec). */
  unreadFileRefs(config: Infer<S>): readonly string[];
}

/** Recursive Partial. */
export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K];
};

/** The flags of `all` (canonical and deprecated) as parseArgs options. */
function flagOptions(all: readonly Leaf[]): Record<string, FlagOption> {
  const options: Record<string, FlagOption> = {
    config: { type: "string" },
    help: { type: "boolean", short: "h" },
  };
  for (const leaf of all) {
    const names = [
      ...(leaf.flag ? [leaf.flag] : []),
      ...leaf.aliases.filter((a) => a.via === "flag").map((a) => a.name),
    ];
    for (const name of names) {
      if (leaf.field.boolean) {
        options[name] = { type: "boolean" };
        options[`no-${name}`] = { type: "boolean" };
      } else {
        options[name] = { type: "string", multiple: leaf.field.multiple };
      }
    }
  }
  return options;
}

/**
 * What a refused value was: for a list, the first item it refuses among the items (a raw
 * `relay,polcy` names `polcy`); else {@linkcode rawFound}.
 */
function foundOf(field: Leaf["field"], raw: unknown, value: unknown): string {
  if (!field.secret && field.multiple && Array.isArray(value) && value.length > 1) {
    const bad = value.find((item) => !field.schema.safeParse([item]).success);
    if (bad !== undefined) return `${describeFound(bad)} in ${describeFound(value)}`;
  }
  return rawFound(field, raw);
}

/** Declares a config. */
export function defineConfig<S extends Shape>(spec: ConfigSpec<S>): Config<S> {
  const envPrefix = envPrefixOf(spec.command);
  const all = leaves(spec.fields, [], envPrefix, []);
  attachAliases(spec.command, all, [
    { kind: "upstream", via: "env", map: spec.upstream?.env },
    { kind: "upstream", via: "key", map: spec.upstream?.keys },
    { kind: "deprecated", via: "flag", map: spec.deprecated?.flags },
    { kind: "deprecated", via: "env", map: spec.deprecated?.env },
    { kind: "deprecated", via: "key", map: spec.deprecated?.keys },
  ]);
  const configEnv = `${envPrefix}CONFIG`;
  const options = flagOptions(all);
  const aliasKeys = new Set(
    all.flatMap((l) => l.aliases.filter((a) => a.via === "key")).map((a) => a.name),
  );

  const validate = (leaf: Leaf, raw: unknown, source: ConfigSource): unknown => {
    const value = leaf.field.coerce(raw);
    const r = leaf.field.schema.safeParse(value);
    if (!r.success) {
      throw new ConfigError(leaf.key, source, leaf.field.expected, foundOf(leaf.field, raw, value));
    }
    for (const grant of leaf.field.grants?.(r.data as never) ?? []) {
      const wrong = unusablePath(grant.path);
      if (wrong) throw new ConfigError(leaf.key, source, USABLE_PATH, wrong);
    }
    return r.data;
  };

  const tolerated = new Set(spec.tolerated ?? []);
  const finish = (
    values: Record<string, unknown>,
    sources: SourceMap,
    warnings: string[] = [],
  ): { config: Infer<S>; checked: void | Promise<void> } => {
    const config = values as Infer<S>;
    for (const leaf of all) {
      if (!leaf.field.secret) continue;
      const value = getIn(config, leaf.path);
      if (typeof value === "string") registerSecret(value);
    }
    return { config, checked: spec.check?.(config, sources, (m) => warnings.push(m)) };
  };

  const usage = (): string => usageText(spec, all, configEnv);

  const parseFlags = (argv: string[]) => {
    try {
      return parseArgv(argv, options, spec.positionals ?? false);
    } catch (err) {
      throw new UsageError(flagErrorLine(err), usage(), { cause: err });
    }
  };

  /** Every layer read and each leaf's raw value picked; `lenient` skips what does not load. */
  const layers = async (argv: string[], opts: ParseOptions, lenient: boolean) => {
    const env = opts.env ?? permittedEnv;
    const read = opts.readFile ?? ((p: string) => readTextWithin(p));
    const parsed = parseFlags(argv);
    const flags = parsed.values;
    const configPath = typeof flags.config === "string"
      ? flags.config
      : flags.help
      ? undefined
      : env(configEnv);
    const rules: FileRules = {
      tolerated,
      aliases: aliasKeys,
      ignored: [],
      expand: spec.expand,
      env,
    };
    let file: FileLayer | undefined;
    try {
      // The launcher's reading of the paths a command names (lenient) leaves a pipe unread: its
      // data can be read once, and the command itself reads it.
      file = configPath && !flags.help && !(lenient && isPipe(configPath))
        ? await loadFile(configPath, spec.fields, read, rules)
        : undefined;
    } catch (err) {
      if (!lenient) throw err;
    }
    // `--help` reads nothing: no file, no env var.
    const picks = flags.help ? [] : all.map((leaf) => pickRaw(leaf, { flags, env, file }));
    return { parsed, configPath, file, rules, picks };
  };

  const parse = async (argv: string[], opts: ParseOptions = {}): Promise<Loaded<S>> => {
    const { parsed, rules, picks } = await layers(argv, opts, false);
    if (parsed.values.help) return { help: true, positionals: parsed.positionals };
    // The default folder of every file a service writes: a `~` there would be a folder named `~`.
    if (DATA_DIR.startsWith("~")) {
      throw new ConfigError(
        "data_dir",
        { kind: "env", name: "IATP_DATA_DIR" },
        HOME_UNEXPANDED,
        `string ${JSON.stringify(DATA_DIR)}`,
      );
    }
    const dataDirWrong = unusablePath(DATA_DIR);
    if (dataDirWrong) {
      throw new ConfigError(
        "data_dir",
        { kind: "env", name: "IATP_DATA_DIR" },
        USABLE_PATH,
        dataDirWrong,
      );
    }
    const warnings: string[] = [];
    if (rules.ignored.length > 0) {
      warnings.push(`config keys accepted but not used by iatp: ${rules.ignored.join(", ")}`);
    }
    const values: Record<string, unknown> = {};
    const sources: SourceMap = new Map();
    all.forEach((leaf, i) => {
      const pick = picks[i];
      if (pick.alias?.kind === "deprecated") warnings.push(deprecationWarning(leaf, pick));
      const value = pick.source.kind === "default"
        ? leaf.field.default
        : validate(leaf, pick.raw, pick.source);
      setIn(values, leaf.path, value);
      sources.set(leaf.key, pick.source);
    });
    await readPipesAhead(values as Infer<S>, sources);
    const { config, checked } = finish(values, sources, warnings);
    await checked;
    return {
      config,
      sources,
      positionals: parsed.positionals,
      help: false,
      warnings,
    };
  };

  /**
   * Reads ahead each pipe a `file:PATH` setting names that the start reads (see
   * unreadFileRefs), within IATP_FILE_READ_TIMEOUT: the settings' synchronous readers then take
   * its data without waiting on the pipe.
   */
  const readPipesAhead = async (config: Infer<S>, sources: SourceMap): Promise<void> => {
    // Most starts name no file: nothing else runs then (not even unreadFileRefs).
    const named = all.filter((leaf) => leaf.field.fileRef && namesFile(getIn(config, leaf.path)));
    if (named.length === 0) return;
    const unread = new Set(spec.unreadFileRefs?.(config) ?? []);
    for (const leaf of named) {
      if (unread.has(leaf.key)) continue;
      const source = sources.get(leaf.key) ?? { kind: "default" };
      await readFileRefsAhead(leaf.key, getIn(config, leaf.path), source);
    }
  };

  const grants = async (argv: string[], opts: ParseOptions = {}): Promise<PathGrant[]> => {
    let got: Awaited<ReturnType<typeof layers>>;
    try {
      got = await layers(argv, opts, true);
    } catch {
      return []; // bad usage: the command reports it and starts nothing
    }
    if (got.parsed.values.help) return []; // `--help` prints usage and reads nothing
    const out: PathGrant[] = got.configPath ? [{ path: got.configPath, access: "read" }] : [];
    const values: Record<string, unknown> = {};
    all.forEach((leaf, i) => {
      const pick = got.picks[i];
      let value = leaf.field.default;
      if (pick.source.kind !== "default") {
        try {
          value = validate(leaf, pick.raw, pick.source);
        } catch { /* reported when the command starts */ }
      }
      setIn(values, leaf.path, value);
      if (value !== undefined && leaf.field.grants) out.push(...leaf.field.grants(value));
    });
    try {
      out.push(...spec.grants?.(values as Infer<S>) ?? []);
    } catch { /* a derived path of a config that does not load: nothing to grant */ }
    return out;
  };

  const settle = (overrides: DeepPartial<Infer<S>>) => {
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

  const resolve = (overrides: DeepPartial<Infer<S>> = {}): Infer<S> => {
    const { config, checked } = settle(overrides);
    if (checked instanceof Promise) {
      checked.catch(() => {}); // the error below is the one reported
      throw new Error(`iatp ${spec.command}: a setting names a file to read: use resolveAsync()`);
    }
    return config;
  };

  const resolveAsync = async (overrides: DeepPartial<Infer<S>> = {}): Promise<Infer<S>> => {
    const { config, checked } = settle(overrides);
    await checked;
    return config;
  };

  return {
    spec,
    envPrefix,
    parse,
    resolve,
    resolveAsync,
    usage,
    leaves: () => all,
    grants,
    unreadFileRefs: (config) => spec.unreadFileRefs?.(config) ?? [],
    envNames: () => [
      configEnv,
      ...all.flatMap((l) => l.env ? [l.env] : []),
      ...all.flatMap((l) => l.aliases.filter((a) => a.via === "env").map((a) => a.name)),
    ],
  };
}

/** The start-up warning for a value given under a deprecated name. */
function deprecationWarning(leaf: Leaf, pick: Picked): string {
  const alias = pick.alias as Alias;
  const now = alias.via === "flag"
    ? `--${leaf.flag}`
    : alias.via === "env"
    ? leaf.env ?? leaf.key
    : `config key ${leaf.key}`;
  const was = alias.via === "key"
    ? `config key ${alias.name} (${describeSource(pick.source)})`
    : describeSource(pick.source);
  return `${was} is deprecated and will be removed; use ${now}`;
}

/** Longest path Linux opens (PATH_MAX, 4096 bytes with the NUL that ends it). */
const MAX_PATH_BYTES = 4095;
/** Longest name of one file or folder in a path (NAME_MAX). */
const MAX_NAME_BYTES = 255;

/** What a path a setting names must be, beside what the setting itself expects. */
const USABLE_PATH = `a path without NUL or other control characters, at most ${MAX_PATH_BYTES} ` +
  `bytes, each name in it at most ${MAX_NAME_BYTES} bytes`;

const encoder = new TextEncoder();

/**
 * Why the OS could not open `path` as it is spelled, or undefined. A NUL ends a path in every
 * system call (Deno refuses it outright), a line break or another control character in a file
 * name is a pasted or templated value gone wrong, and a path past PATH_MAX or a name past
 * NAME_MAX fails only when the service first creates the file, as "File name too long" naming no
 * setting.
 */
function unusablePath(path: string): string | undefined {
  const control = /\p{Cc}/u.exec(path);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).padStart(4, "0");
    return control[0] === "\0"
      ? `a path holding a NUL character (\\u0000)`
      : `a path holding the control character \\u${code}`;
  }
  const bytes = encoder.encode(path).length;
  if (bytes > MAX_PATH_BYTES) return `a path of ${bytes} bytes`;
  for (const name of path.split("/")) {
    const n = encoder.encode(name).length;
    if (n > MAX_NAME_BYTES) return `a name of ${n} bytes (${name.slice(0, 32)}...) in the path`;
  }
  return undefined;
}

/** Whether a setting's value (or an item of a list) is a `file:PATH` reference. */
function namesFile(value: unknown): boolean {
  const isRef = (v: unknown) => typeof v === "string" && v.startsWith("file:");
  return Array.isArray(value) ? value.some(isRef) : isRef(value);
}

/**
 * Formats a ConfigError as the one line a CLI prints. A key or a file name read from a file, the
 * environment or the command line may hold a line break, a terminal escape or a right-to-left
 * override: each control or format character is written as `\uXXXX`, so the line stays one line
 * and shows the name as it is spelled.
 */
export function formatConfigError(command: string, err: ConfigError): string {
  return printable(
    `iatp ${command}: config error: ${err.key} (${
      describeSource(err.source)
    }): expected ${err.expected}, found ${err.found}`,
  );
}
