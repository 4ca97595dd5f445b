/**
 * iatp entry point: reads the subcommand, hands the rest of argv to cmd/<name>.ts, prints usage,
 * and maps errors to exit codes (cmd/run.ts). Nothing else.
 * @module
 */
import { findCommand, globalUsage } from "./cmd/mod.ts";
import { narrowToSubcommand } from "./cmd/permissions.ts";
import { runCommand } from "./cmd/run.ts";
import { exitOnUnhandledRejection, print, printErr } from "./cmd/shared.ts";
import { EXIT_USAGE } from "./core/errors/mod.ts";

/** Runs iatp with `args` and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h") {
    print(globalUsage());
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === "--version" || name === "-V") return main(["version", ...rest]);
  const entry = findCommand(name);
  if (!entry) {
    printErr(`iatp: unknown command "${name}"\n\n${globalUsage()}`);
    return EXIT_USAGE;
  }
  return await runCommand(name, entry.load, rest);
}

if (import.meta.main) {
  exitOnUnhandledRejection();
  // Under scripts/iatp and the image's launcher this is a no-op (they grant exactly the table's
  // flags); in the compiled binary, which starts with the union, it revokes every category the
  // subcommand's line does not grant (a granted category stays whole: docs/deployment.md).
  narrowToSubcommand(Deno.args[0] ?? "help");
  Deno.exit(await main(Deno.args));
}
