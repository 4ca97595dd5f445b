/**
 * Runs an instruction with the executor and the plugin catalog loaded on first use: a load that
 * fails (the module unreadable or replaced under a running agent) becomes a failed result like
 * any other, so the instruction is finished and reported, never left running without one.
 * @module
 */
import { lateImport } from "../config/mod.ts";
import type { ExecutionLog } from "./exec_log.ts";
import type { ExecutorContext } from "./executor.ts";
import type { PluginCatalog } from "./plugins.ts";
import { type Instruction, type ResultBody, rfc3339 } from "./wire.ts";

/** The executor's module, imported by a computed specifier (core/config's `lateImport`). */
type Executor = typeof import("./executor.ts");

/** What a failed load reports to the orchestrator (the reason is in the agent's log). */
export const LOAD_FAILED =
  "the instruction runner (executor, plugin catalog) could not be loaded; the agent's log has the reason";

/** An {@linkcode ExecutorContext} whose plugin catalog is made with the first instruction. */
export interface LateExecutorContext extends Omit<ExecutorContext, "catalog"> {
  /** The agent's one catalog, loaded and made by the first call (the same one after). */
  catalog(): Promise<PluginCatalog>;
}

/**
 * `runInstruction` of the executor, loaded now with the agent's plugin catalog; never throws: a
 * failed load is the `internal` failure of the instruction.
 */
export async function runLate(
  inst: Instruction,
  ctx: LateExecutorContext,
  log: ExecutionLog,
  onLoadError: (err: unknown) => void = () => {},
): Promise<ResultBody> {
  let executor: Executor;
  let catalog: PluginCatalog;
  try {
    executor = await lateImport<Executor>("./executor.ts", import.meta.url);
    catalog = await ctx.catalog();
  } catch (err) {
    // The reason (a module path on this host, the runtime's wording) goes to the agent's own
    // log; the orchestrator gets a fixed sentence.
    onLoadError(err);
    const message = LOAD_FAILED;
    log.add(`failed (internal): ${message}`);
    return {
      status: "failed",
      error_message: message,
      error_details: { error_type: "internal", timestamp: rfc3339() },
      execution_log: log.lines(),
    };
  }
  return await executor.runInstruction(inst, { ...ctx, catalog }, log);
}
