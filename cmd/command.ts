/**
 * What a subcommand is, and the two readings of the subcommand table (lookup by name, the
 * top-level usage). Imports no other command file, so every command file can depend on it.
 * @module
 */
import type { AliasMap, Config, Leaf, ParseOptions, PathGrant, Shape } from "../core/config/mod.ts";

/**
 * What a command's config declaration tells others (help, docs, grants, `iatp config`): its
 * settings with their names, and how to parse and explain an argv.
 */
export interface DeclaredConfig
  extends Pick<Config<Shape>, "envPrefix" | "usage" | "envNames" | "parse" | "unreadFileRefs"> {
  readonly spec: {
    readonly command: string;
    readonly summary: string;
    readonly fields: Shape;
    readonly upstream?: { system: string; env: AliasMap };
  };
  leaves(): readonly Leaf[];
  grants(argv: string[], opts?: ParseOptions): Promise<PathGrant[]>;
}

/** A runnable subcommand. Returns the process exit code. */
export interface Command {
  run(argv: string[]): Promise<number>;
  /** Usage text for `iatp <cmd> --help` and usage errors. */
  usage(): string;
  /** The config declaration behind the flags, for commands that have one. */
  readonly spec?: DeclaredConfig;
  /** The config declarations of its verbs that have settings of their own (`audit verify`). */
  readonly verbs?: Readonly<Record<string, DeclaredConfig>>;
  /**
   * The files and folders an argv names (commands with verbs or positional paths); a command
   * without it is granted what its spec names.
   */
  grants?(argv: string[], opts?: ParseOptions): PathGrant[] | Promise<PathGrant[]>;
}

/** One row of the subcommand table. */
export interface CommandEntry {
  name: string;
  summary: string;
  /** Hidden commands (internal) are not listed in `iatp --help`. */
  hidden?: boolean;
  load(): Promise<Command>;
}

/** Finds a command by name in `commands`. */
export function findCommand(
  commands: readonly CommandEntry[],
  name: string,
): CommandEntry | undefined {
  return commands.find((c) => c.name === name);
}

/** The top-level usage text listing the visible `commands`. */
export function globalUsage(commands: readonly CommandEntry[]): string {
  const visible = commands.filter((c) => !c.hidden);
  const w = Math.max(...visible.map((c) => c.name.length)) + 2;
  return [
    "Usage: iatp <command> [flags]",
    "",
    "iatp: a trust and governance layer for AI agents and automation agents.",
    "",
    "Commands:",
    ...visible.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    "",
    "Run `iatp <command> --help` for a command's flags, env vars and defaults.",
  ].join("\n");
}
