/**
 * `iatp config`: `show <command> [flags]` prints a command's effective configuration with the
 * source of each value (a secret only as set, and the file a `file:PATH` one is read from); `check <command> FILE` loads a config
 * file as the command would (with the current environment) and starts nothing, exit 0 or 2.
 * @module
 */
import { resolveSecretSetting } from "../core/auth/settings/mod.ts";
import { getIn, secretSetting, type SourceMap, withoutUrlSecrets } from "../core/config/mod.ts";
import { describeSource, UsageError } from "../core/errors/mod.ts";
import { type Command, type CommandEntry, type DeclaredConfig, findCommand } from "./command.ts";
import { print, printErr } from "./shared.ts";

const USAGE = `Usage: iatp config show <command> [--config FILE] [flags of the command]
       iatp config check <command> FILE

show   prints every setting of <command> as it would start: its value and where the value comes
       from (built-in default, FILE:LINE, env NAME, flag --NAME). A secret is shown only as
       (secret, set), or (secret, in file:PATH) for one read from a file. Nothing is started.
check  loads FILE as <command> would (with the current environment), reads the files its
       file:PATH settings name, and reports the first error, naming the setting, where it is
       and what was expected; exit 0 when it loads, 2 when it does not, as nginx -t does.`;

/**
 * A setting's value as its flag takes it (`30s`, `1MiB`); a secret only as set (or the file it is
 * read from), a URL's password as `(secret)`.
 */
function shown(declared: DeclaredConfig, key: string, value: unknown): string {
  const leaf = declared.leaves().find((l) => l.key === key);
  if (value === undefined || value === "" || leaf === undefined) return "unset";
  if (leaf.field.secret) return secretSetting(value, leaf.field.fileRef === true);
  // A URL setting (a database, a store) may hold a password: not shown.
  return typeof value === "string"
    ? leaf.field.show(withoutUrlSecrets(value)) as string
    : leaf.field.show(value);
}

/** The lines `config show` prints: `key  value  # source`, aligned. */
export function effectiveLines(
  declared: DeclaredConfig,
  config: unknown,
  sources: SourceMap,
): string[] {
  const rows = declared.leaves().map((leaf) => {
    const value = getIn(config, leaf.path);
    const source = sources.get(leaf.key) ?? { kind: "default" as const };
    return [leaf.key, shown(declared, leaf.key, value), describeSource(source)];
  });
  const keyWidth = Math.max(...rows.map((r) => r[0].length));
  const valueWidth = Math.min(40, Math.max(...rows.map((r) => r[1].length)));
  return rows.map(([k, v, s]) => `${k.padEnd(keyWidth)}  ${v.padEnd(valueWidth)}  # ${s}`);
}

/**
 * Reads every `file:PATH` a credential setting names, as the command's start does, so a file
 * that is missing, unreadable or too large fails the check as it would fail the start; one the
 * start does not read with this config (what uses it is off) is not read. What a file holds is
 * never printed.
 * @throws {ConfigError} naming the setting and where its value came from
 */
function checkFileRefs(
  declared: DeclaredConfig,
  config: Parameters<DeclaredConfig["unreadFileRefs"]>[0],
  sources: SourceMap,
): void {
  const unread = new Set(declared.unreadFileRefs(config));
  for (const leaf of declared.leaves()) {
    if (!leaf.field.fileRef || unread.has(leaf.key)) continue;
    const value = getIn(config, leaf.path);
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      if (typeof item === "string" && item.startsWith("file:")) {
        resolveSecretSetting(leaf.key, item, sources.get(leaf.key), Array.isArray(value));
      }
    }
  }
}

/** The config declaration of the command `name`. */
async function declaredOf(commands: readonly CommandEntry[], name: string | undefined) {
  if (name === undefined) throw new UsageError("expected a command name", USAGE);
  const command = await findCommand(commands, name)?.load();
  if (!command?.spec) {
    const names = (await Promise.all(
      commands.filter((c) => !c.hidden).map(async (c) => (await c.load()).spec ? c.name : ""),
    )).filter(Boolean);
    throw new UsageError(
      `"${name}" has no configuration; one of: ${names.join(", ")}`,
      USAGE,
    );
  }
  return command.spec;
}

/** `iatp config`, handed the subcommand table. */
export function configCommand(commands: readonly CommandEntry[]): Command {
  return {
    usage: () => USAGE,
    async run(argv) {
      const [verb, name, ...rest] = argv;
      if (verb === undefined || verb === "--help" || verb === "-h") {
        print(USAGE);
        return verb === undefined ? 2 : 0;
      }
      // `config show --help`, `config check relay --help`: help, as every other verb gives.
      if ([name, ...rest].some((a) => a === "--help" || a === "-h")) {
        print(USAGE);
        return 0;
      }
      if (verb === "show") {
        const declared = await declaredOf(commands, name);
        const loaded = await declared.parse(rest);
        if (loaded.help) {
          print(USAGE);
          return 0;
        }
        for (const w of loaded.warnings ?? []) printErr(`iatp config: warning: ${w}`);
        print(`# iatp ${name}: flag > env > config file > default`);
        print(effectiveLines(declared, loaded.config, loaded.sources).join("\n"));
        return 0;
      }
      if (verb === "check") {
        const declared = await declaredOf(commands, name);
        if (rest.length !== 1 || rest[0].startsWith("-")) {
          throw new UsageError("expected exactly one FILE after the command", USAGE);
        }
        const loaded = await declared.parse(["--config", rest[0]]);
        if (!loaded.help) checkFileRefs(declared, loaded.config, loaded.sources);
        for (const w of loaded.help ? [] : loaded.warnings ?? []) {
          printErr(`iatp config: warning: ${w}`);
        }
        print(`iatp config: ${rest[0]} is a valid ${name} configuration`);
        return 0;
      }
      throw new UsageError(`unknown verb "${verb}" (show or check)`, USAGE);
    },
  };
}
