/**
 * Runs an instruction with the executor loaded on first use: a load that fails (the module
 * unreadable or replaced under a running agent) becomes a failed result like any other, so the
 * instruction is finished and reported, never left running without one.
 * @module
 */
import { lateImport } from "../config/mod.ts";
import { errorMessage } from "../errors/mod.ts";
import type { ExecutionLog } from "./exec_log.ts";
import type { ExecutorContext } from "./executor.ts";
import { type Instruction, type ResultBody, rfc3339 } from "./wire.ts";

/** The executor's module, imported by a computed specifier (core/config's `lateImport`). */
type Executor = typeof import("./executor.ts");

/**
 * `runInstruction` of the executor, loaded now; never throws: a failed load is the `internal`
 * failure of the instruction.
 */
export async function runLate(
  inst: Instruction,
  ctx: ExecutorContext,
  log: ExecutionLog,
): Promise<ResultBody> {
  let executor: Executor;
  try {
    executor = await lateImport<Executor>("./executor.ts", import.meta.url);
  } catch (err) {
    const message = `the executor could not be loaded: ${errorMessage(err)}`;
    log.add(`failed (internal): ${message}`);
    return {
      status: "failed",
      error_message: message,
      error_details: { error_type: "internal", timestamp: rfc3339() },
      execution_log: log.lines(),
    };
  }
  return await executor.runInstruction(inst, ctx, log);
}
