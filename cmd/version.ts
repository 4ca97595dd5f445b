/** `iatp version`: version, git commit and Deno version (`--json` for machines). @module */
import { flagErrorLine, parseFlags } from "../core/config/mod.ts";
import { UsageError } from "../core/errors/mod.ts";
import { versionInfo } from "../core/version/mod.ts";
import type { Command } from "./command.ts";
import { print } from "./shared.ts";

const USAGE =
  "Usage: iatp version [--json]\n\nPrint the iatp version, git commit and Deno version.";

/** The version command. */
export const command: Command = {
  usage: () => USAGE,
  run(argv) {
    let json = false;
    try {
      const { values } = parseFlags(argv, {
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      });
      if (values.help) {
        print(USAGE);
        return Promise.resolve(0);
      }
      json = values.json ?? false;
    } catch (err) {
      throw new UsageError(flagErrorLine(err), USAGE, { cause: err });
    }
    const v = versionInfo();
    print(
      json ? JSON.stringify(v) : `iatp ${v.version} (commit ${v.commit}) deno ${v.deno} v8 ${v.v8}`,
    );
    return Promise.resolve(0);
  },
};
