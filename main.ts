/**
 * iatp entry point: reads the subcommand, hands the rest of argv to cmd/<name>.ts, prints usage,
 * and maps errors to exit codes. Nothing else.
 * @module
 */
import { findCommand, globalUsage } from "./cmd/mod.ts";
import { narrowToSubcommand } from "./cmd/permissions.ts";
import { exitOnUnhandledRejection, print, printErr } from "./cmd/shared.ts";
import {
  CheckFailedError,
  ConfigError,
  errorMessage,
  EXIT_USAGE,
  exitCodeOf,
  UsageError,
} from "./core/errors/mod.ts";
import { formatConfigError } from "./core/config/mod.ts";
import { scrubString } from "./core/log/mod.ts";

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
  try {
    const command = await entry.load();
    return await command.run(rest);
  } catch (err) {
    printErr(describeFailure(name, err));
    return exitCodeOf(err) === 1 && err instanceof Deno.errors.NotCapable
      ? EXIT_USAGE
      : exitCodeOf(err);
  }
}

/**
 * A permission the launcher did not grant, in iatp's terms: what was refused, and how to allow
 * more (never a Deno flag: iatp's launchers take IATP_ALLOW_READ / IATP_ALLOW_WRITE).
 */
export function deniedMessage(name: string, denoMessage: string): string {
  const m = /Requires (\w+) access to "([^"]+)"/.exec(denoMessage);
  const what = m?.[1];
  const target = m ? scrubString(m[2]) : "";
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

function describeFailure(name: string, err: unknown): string {
  if (err instanceof ConfigError) return formatConfigError(name, err);
  if (err instanceof UsageError) {
    return `iatp ${name}: ${err.message}${err.usage ? `\n\n${err.usage}` : ""}`;
  }
  if (err instanceof CheckFailedError) return `iatp ${name}: ${err.message}`;
  if (err instanceof Deno.errors.NotCapable) return deniedMessage(name, err.message);
  if (err instanceof Deno.errors.AddrInUse) {
    return `iatp ${name}: address already in use: ${err.message.split("\n")[0]}`;
  }
  const msg = errorMessage(err);
  return `iatp ${name}: error: ${scrubString(msg)}`;
}

if (import.meta.main) {
  exitOnUnhandledRejection();
  // Under scripts/iatp and the image's launcher this is a no-op (they grant exactly the table's
  // flags); in the compiled binary, which starts with the union, it revokes every category the
  // subcommand's line does not grant (a granted category stays whole: docs/deployment.md).
  narrowToSubcommand(Deno.args[0] ?? "help");
  Deno.exit(await main(Deno.args));
}
