/**
 * `iatp __grants <command> [args...]`: the files and folders an argv and the environment name
 * for `<command>` (its config file, every path setting, `file:PATH` credentials, positional
 * folders), one `read<TAB>PATH` or `write<TAB>PATH` line each, so the launchers grant exactly
 * those. Run with read-only rights; it starts nothing. A write path whose folder does not exist
 * yet also gets that folder (the service creates it). A path holding a control character (a line
 * break, a tab) is never granted.
 * @module
 */
import { dirname, resolve } from "node:path";
import type { PathGrant } from "../core/config/mod.ts";
import type { Command, CommandEntry } from "./command.ts";
import { findCommand } from "./command.ts";
import { SERVICE_ENTRIES } from "./permissions.ts";
import { print } from "./shared.ts";

/** Characters no granted path may hold (they would break the launchers' line format). */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\x00-\x1f\x7f]/;

/** True when `path` exists (a folder or a file); false when it does not or cannot be seen. */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The grants of one start, de-duplicated, absolute, with the missing folder of each write path.
 * @example
 * ```ts
 * await grantsFor(COMMANDS, "audit", ["--db", "/tmp/x/audit.db"]);
 * // [{ path: "/tmp/x/audit.db", access: "write" }, { path: "/tmp/x/audit.db.key", ... }, ...]
 * ```
 */
export async function grantsFor(
  commands: readonly CommandEntry[],
  name: string,
  args: string[],
): Promise<PathGrant[]> {
  const command = await findCommand(commands, name)?.load();
  const named = await (command?.grants?.(args) ?? command?.spec?.grants(args)) ?? [];
  const out = new Map<string, PathGrant>();
  const add = (g: PathGrant) => {
    const path = resolve(g.path);
    const had = out.get(path);
    if (!had || (had.access === "read" && g.access === "write")) out.set(path, { ...g, path });
  };
  for (const g of named) {
    // The launchers read one `access<TAB>path` line per grant: a value holding a line break or a
    // tab would name paths no setting names. Such a path is not granted (the service then says
    // it may not use it).
    if (g.path === "" || CONTROL_CHARS.test(g.path)) continue;
    add(g);
    const folder = dirname(resolve(g.path));
    if (g.access === "write" && !exists(folder)) add({ path: folder, access: "write" });
  }
  return [...out.values()];
}

/** The hidden `__grants` command, handed the subcommand table. */
export function grantsCommand(commands: readonly CommandEntry[]): Command {
  return {
    usage: () => "Usage: iatp __grants <command> [args...]   (for the launchers)",
    async run(argv) {
      const [name, ...args] = argv;
      if (name === undefined || name === "--help" || name === "-h") {
        print("Usage: iatp __grants <command> [args...]   (for the launchers)");
        return name === undefined ? 2 : 0;
      }
      const lines = (await grantsFor(commands, name, args)).map((g) => `${g.access}\t${g.path}`);
      if (lines.length > 0) print(lines.join("\n"));
      return 0;
    },
  };
}

/**
 * The launchers' way in (`deno run --allow-read --allow-env cmd/grants.ts <command> [args...]`,
 * what `iatp __grants` prints): a service's file alone is loaded (SERVICE_ENTRIES), anything else
 * through the command table. Both by a computed specifier, so Deno does not build the module
 * graph of every command first; this child may read everything, so loading is never refused.
 */
async function grantsMain(argv: string[]): Promise<number> {
  const [name] = argv;
  const file = name === undefined ? undefined : SERVICE_ENTRIES.get(name);
  let commands: readonly CommandEntry[];
  if (file !== undefined) {
    const url = new URL(`../${file}`, import.meta.url).href;
    const { command } = await import(url) as { command: Command };
    commands = [{ name: name!, summary: "", load: () => Promise.resolve(command) }];
  } else {
    const url = new URL("./mod.ts", import.meta.url).href;
    ({ COMMANDS: commands } = await import(url) as { COMMANDS: readonly CommandEntry[] });
  }
  return await grantsCommand(commands).run(argv);
}

if (import.meta.main) Deno.exit(await grantsMain(Deno.args));
