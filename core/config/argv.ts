/**
 * Command-line flags as `node:util`'s `parseArgs` reads them in strict mode (the same tokens,
 * values and error messages), without loading Deno's Node layer, which costs an idle service
 * 3-4 MB: `--name value`, `--name=value`, `-n value`, `-nvalue`, grouped short booleans (`-ab`),
 * repeated flags of a `multiple` option, and `--` ending the flags.
 * @module
 */

/** One flag's declaration, as `parseArgs` takes it (no defaults: the config layer has those). */
export interface FlagOption {
  type: "string" | "boolean";
  /** A one-character alias (`h` for `-h`). */
  short?: string;
  /** Collects every occurrence into an array. */
  multiple?: boolean;
}

/** What {@linkcode parseArgv} read. */
export interface ParsedFlags {
  /** Each flag given, by its long name (null prototype): a string, true, or an array. */
  values: Record<string, unknown>;
  positionals: string[];
}

/** A command line `parseArgs` would refuse; the message is the one it gives. */
export class FlagError extends TypeError {
  /** Node's code for the same refusal (`ERR_PARSE_ARGS_UNKNOWN_OPTION`, ...). */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "FlagError";
    this.code = code;
  }
}

/**
 * A flag error as the one line a command prints: parseArgs' message with its lines joined, so the
 * advice after the first (how to give a value that starts with a dash) is kept.
 * @example
 * ```ts
 * flagErrorLine(new Error("a.\nb.")); // "a. b."
 * ```
 */
export function flagErrorLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").join(" ");
}

/** One option or positional argument, as `parseArgs` tokenizes the command line. */
interface Token {
  kind: "option" | "positional";
  name: string;
  rawName: string;
  value: string | undefined;
  inlineValue: boolean | undefined;
}

/**
 * Parses `args` against `options` in `parseArgs`'s strict mode.
 * @throws {FlagError} for an unknown flag, a string flag without its value (or with an ambiguous
 * one such as `--port --host`), a value given to a boolean flag, or a positional argument when
 * `allowPositionals` is false
 * @example
 * ```ts
 * parseArgv(["--port", "8005", "-h"], { port: { type: "string" }, help: { type: "boolean", short: "h" } }, false);
 * // { values: { port: "8005", help: true }, positionals: [] }
 * ```
 */
export function parseArgv(
  args: readonly string[],
  options: Readonly<Record<string, FlagOption>>,
  allowPositionals: boolean,
): ParsedFlags {
  const values: Record<string, unknown> = Object.create(null);
  const positionals: string[] = [];
  for (const token of tokensOf(args, options)) {
    if (token.kind === "positional") {
      if (!allowPositionals) {
        throw new FlagError(
          "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL",
          `Unexpected argument '${token.name}'. This command does not take positional arguments`,
        );
      }
      positionals.push(token.name);
      continue;
    }
    checkUsage(token, options, allowPositionals);
    store(token, options, values);
  }
  return { values, positionals };
}

/** The value a flag declared as `O` parses to. */
export type FlagValue<O extends FlagOption> = O["type"] extends "boolean"
  ? O["multiple"] extends true ? boolean[] : boolean
  : O["multiple"] extends true ? string[]
  : string;

/** The flags of a command line parsed against `T`, each absent unless given. */
export type FlagValues<T extends Readonly<Record<string, FlagOption>>> = {
  [K in keyof T]?: FlagValue<T[K]>;
};

/**
 * {@linkcode parseArgv} with the values typed by the declarations (a command's own flags; the
 * config layer reads its settings through `defineConfig`).
 * @throws {FlagError} as {@linkcode parseArgv}
 * @example
 * ```ts
 * const { values } = parseFlags(["--json"], { json: { type: "boolean" } });
 * values.json; // true
 * ```
 */
export function parseFlags<const T extends Readonly<Record<string, FlagOption>>>(
  args: readonly string[],
  options: T,
  allowPositionals = false,
): { values: FlagValues<T>; positionals: string[] } {
  const { values, positionals } = parseArgv(args, options, allowPositionals);
  // parseArgv stores a flag only as its declaration's type (checkUsage and store).
  return { values: values as FlagValues<T>, positionals };
}

/** The declaration of `name`, if it is one (never an inherited property). */
function optionOf(
  options: Readonly<Record<string, FlagOption>>,
  name: string,
): FlagOption | undefined {
  return Object.hasOwn(options, name) ? options[name] : undefined;
}

/** The long name whose `short` is `letter`, else the letter itself. */
function longFor(letter: string, options: Readonly<Record<string, FlagOption>>): string {
  for (const [name, o] of Object.entries(options)) if (o.short === letter) return name;
  return letter;
}

function isString(options: Readonly<Record<string, FlagOption>>, name: string): boolean {
  return optionOf(options, name)?.type === "string";
}

/** The command line as `parseArgs` tokenizes it. */
function tokensOf(args: readonly string[], options: Readonly<Record<string, FlagOption>>): Token[] {
  const tokens: Token[] = [];
  const rest = [...args];
  const option = (name: string, rawName: string, value?: string, inline?: boolean) =>
    tokens.push({ kind: "option", name, rawName, value, inlineValue: inline });
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (arg === "--") {
      for (const a of rest) tokens.push(positional(a));
      break;
    }
    const short = arg.length >= 2 && arg[0] === "-" && arg[1] !== "-";
    if (short && arg.length === 2) { // -f, and -f VALUE for a string flag
      const name = longFor(arg[1], options);
      const takes = isString(options, name) && rest.length > 0;
      option(name, arg, takes ? rest.shift() : undefined, takes ? false : undefined);
    } else if (short && !isString(options, longFor(arg[1], options))) { // -abc: -a -b -c
      rest.unshift(...expandGroup(arg, options));
    } else if (short) { // -fVALUE
      option(longFor(arg[1], options), `-${arg[1]}`, arg.slice(2), true);
    } else if (arg.length > 2 && arg.startsWith("--") && !arg.includes("=", 3)) { // --name
      const name = arg.slice(2);
      const takes = isString(options, name) && rest.length > 0;
      option(name, arg, takes ? rest.shift() : undefined, takes ? false : undefined);
    } else if (arg.length > 2 && arg.startsWith("--")) { // --name=VALUE
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq);
      option(name, `--${name}`, arg.slice(eq + 1), true);
    } else {
      tokens.push(positional(arg));
    }
  }
  return tokens;
}

function positional(arg: string): Token {
  return { kind: "positional", name: arg, rawName: arg, value: arg, inlineValue: undefined };
}

/** `-abfFILE` as `-a`, `-b`, `-fFILE`: a string flag takes the rest of the group. */
function expandGroup(arg: string, options: Readonly<Record<string, FlagOption>>): string[] {
  const out: string[] = [];
  for (let i = 1; i < arg.length; i++) {
    const letter = arg[i];
    if (!isString(options, longFor(letter, options)) || i === arg.length - 1) {
      out.push(`-${letter}`);
    } else {
      out.push(`-${arg.slice(i)}`);
      break;
    }
  }
  return out;
}

/** `parseArgs`'s strict checks of one option token. */
function checkUsage(
  token: Token,
  options: Readonly<Record<string, FlagOption>>,
  allowPositionals: boolean,
): void {
  const o = optionOf(options, token.name);
  if (!o) {
    const hint = allowPositionals
      ? ". To specify a positional argument starting with a '-', place it at the end of the " +
        `command after '--', as in '-- ${JSON.stringify(token.rawName)}`
      : "";
    throw new FlagError(
      "ERR_PARSE_ARGS_UNKNOWN_OPTION",
      `Unknown option '${token.rawName}'${hint}`,
    );
  }
  const shown = `${o.short ? `-${o.short}, ` : ""}--${token.name}`;
  if (o.type === "string" && typeof token.value !== "string") {
    throw new FlagError(
      "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
      `Option '${shown} <value>' argument missing`,
    );
  }
  if (o.type === "boolean" && token.value !== undefined) {
    throw new FlagError(
      "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
      `Option '${shown}' does not take an argument`,
    );
  }
  const value = token.value;
  if (!token.inlineValue && value !== undefined && value.length > 1 && value[0] === "-") {
    const example = token.rawName.startsWith("--")
      ? `'${token.rawName}=-XYZ'`
      : `'--${token.name}=-XYZ' or '${token.rawName}-XYZ'`;
    throw new FlagError(
      "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
      `Option '${token.rawName}' argument is ambiguous.\n` +
        `Did you forget to specify the option argument for '${token.rawName}'?\n` +
        `To specify an option argument starting with a dash use ${example}.`,
    );
  }
}

function store(
  token: Token,
  options: Readonly<Record<string, FlagOption>>,
  values: Record<string, unknown>,
): void {
  if (token.name === "__proto__") return;
  const value = token.value ?? true;
  if (optionOf(options, token.name)?.multiple) {
    const list = values[token.name];
    if (Array.isArray(list)) list.push(value);
    else values[token.name] = [value];
  } else {
    values[token.name] = value;
  }
}
