/** Placeholder for a subcommand whose issue has not landed: says so and exits 2. @module */
import { UsageError } from "../core/errors/mod.ts";
import type { Command } from "./mod.ts";

/** A command that reports it is not built yet. */
export function notBuilt(name: string): Command {
  const usage = `Usage: iatp ${name}\n\n${name} is not built yet.`;
  return {
    usage: () => usage,
    run: () => Promise.reject(new UsageError(`${name} is not built yet`)),
  };
}
