/**
 * Running one subcommand: its exit code, with every failure turned into a message in iatp's
 * terms and an exit code. main.ts runs any subcommand through it. A long-running service's own
 * file is also an entry point of its own ({@linkcode runAsEntry}): the launchers start a service
 * from that file in `deno run` mode, so Deno builds the module graph of that service alone
 * rather than of every command it could have run (about 5 MB less resident, and a quicker
 * start). The compiled binary always starts at main.ts.
 * @module
 */
import type { Command } from "./command.ts";
import { narrowToSubcommand } from "./permissions.ts";
import { exitOnUnhandledRejection, printErr } from "./shared.ts";
import {
  CheckFailedError,
  ConfigError,
  errorMessage,
  EXIT_USAGE,
  exitCodeOf,
  parseRefusal,
  UsageError,
} from "../core/errors/mod.ts";
import { formatConfigError } from "../core/config/mod.ts";
import { scrubString } from "../core/log/mod.ts";

/** Runs the subcommand `name` that `load` yields with `args`, and returns its exit code. */
export async function runCommand(
  name: string,
  load: () => Promise<Command>,
  args: string[],
): Promise<number> {
  try {
    const command = await load();
    return await command.run(args);
  } catch (err) {
    printErr(describeFailure(name, err));
    return exitCodeOf(err) === 1 && refusedPermission(err) ? EXIT_USAGE : exitCodeOf(err);
  }
}

/**
 * Runs `command` as the process's entry point (`deno run cmd/relay.ts --port 8005` is
 * `iatp relay --port 8005`), then exits with its code.
 */
export async function runAsEntry(name: string, command: Command): Promise<never> {
  exitOnUnhandledRejection();
  narrowToSubcommand(name);
  Deno.exit(await runCommand(name, () => Promise.resolve(command), Deno.args));
}

/**
 * A permission the launcher did not grant, in iatp's terms: what was refused, and how to allow
 * more (never a Deno flag: iatp's launchers take IATP_ALLOW_READ / IATP_ALLOW_WRITE).
 */
function deniedMessage(name: string, denoMessage: string): string {
  const r = parseRefusal(denoMessage);
  const what = r?.what;
  const target = r ? scrubString(r.target) : "";
  const head = `iatp ${name}: permission denied: `;
  if (what === "read" || what === "write") {
    const allow = what === "read" ? "IATP_ALLOW_READ" : "IATP_ALLOW_WRITE";
    return `${head}may not ${what} ${target}\n` +
      `Name it in the command's settings (a flag, env var or config key), or allow it with ` +
      `${allow}=${target} (a comma-separated list).`;
  }
  if (what === "env") {
    return `${head}may not read the environment variable ${target} (iatp ${name} does not use it)`;
  }
  return `${head}${what ? `${what} access to ${target}` : "an operation"} is not granted to ` +
    `iatp ${name} (see cmd/permissions.txt)`;
}

/**
 * The permission refusal behind `err`: itself, or one of its causes (a store or key file that
 * could not be opened wraps Deno's refusal in its own error).
 */
function refusedPermission(err: unknown): Deno.errors.NotCapable | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof Deno.errors.NotCapable) return e;
  }
  return undefined;
}

function describeFailure(name: string, err: unknown): string {
  if (err instanceof ConfigError) return formatConfigError(name, err);
  if (err instanceof UsageError) {
    return `iatp ${name}: ${err.message}${err.usage ? `\n\n${err.usage}` : ""}`;
  }
  if (err instanceof CheckFailedError) return `iatp ${name}: ${err.message}`;
  const refused = refusedPermission(err);
  if (refused) return deniedMessage(name, refused.message);
  if (err instanceof Deno.errors.AddrInUse) {
    return `iatp ${name}: address already in use: ${err.message.split("\n")[0]}`;
  }
  const msg = errorMessage(err);
  return `iatp ${name}: error: ${scrubString(msg)}`;
}
