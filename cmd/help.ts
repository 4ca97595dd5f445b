/** `iatp help [command]`: top-level or per-command usage. @module */
import { UsageError } from "../core/errors/mod.ts";
import { type Command, type CommandEntry, findCommand, globalUsage } from "./command.ts";
import { print } from "./shared.ts";

/** The help command over the subcommand table `commands`. */
export function helpCommand(commands: readonly CommandEntry[]): Command {
  return {
    usage: () => "Usage: iatp help [command]",
    async run(argv) {
      if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
        print(globalUsage(commands));
        return 0;
      }
      const entry = findCommand(commands, argv[0]);
      if (!entry) throw new UsageError(`unknown command "${argv[0]}"`, globalUsage(commands));
      print((await entry.load()).usage());
      return 0;
    },
  };
}
