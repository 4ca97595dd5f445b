/** `iatp help [command]`: top-level or per-command usage. @module */
import { UsageError } from "../core/errors/mod.ts";
import { type Command, findCommand, globalUsage } from "./mod.ts";
import { print } from "./shared.ts";

/** The help command. */
export const command: Command = {
  usage: () => "Usage: iatp help [command]",
  async run(argv) {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
      print(globalUsage());
      return 0;
    }
    const entry = findCommand(argv[0]);
    if (!entry) throw new UsageError(`unknown command "${argv[0]}"`, globalUsage());
    print((await entry.load()).usage());
    return 0;
  },
};
