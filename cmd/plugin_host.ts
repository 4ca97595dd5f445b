/**
 * `iatp plugin-host` (hidden): the sandbox child a sensor or action agent spawns per warm plugin
 * host. It reads its spec from the parent on stdin and answers on stdout (core/plugin/protocol.ts);
 * it is not meant to be run by hand. In `deno run` mode the parent runs core/plugin/js/host_main.js
 * directly with least-privilege flags; a compiled binary runs this subcommand instead.
 * @module
 */
import { runPluginHost } from "../core/plugin/mod.ts";
import type { Command } from "./command.ts";

const USAGE = "Usage: iatp plugin-host\n\n" +
  "Internal: hosts one sandboxed plugin for a parent agent, speaking the plugin wire protocol\n" +
  "on stdin/stdout. Use `iatp plugin run DIR` to run a plugin by hand.";

/** The plugin-host command. */
export const command: Command = {
  usage: () => USAGE,
  run(argv) {
    if (argv.includes("--help") || argv.includes("-h")) {
      Deno.stdout.writeSync(new TextEncoder().encode(USAGE + "\n"));
      return Promise.resolve(0);
    }
    return runPluginHost();
  },
};
