/**
 * Opening the decision loop's state store (`state_db`): its file, which loads `node:sqlite` and
 * with it part of Deno's Node layer, is imported only by a policy with a relay and no queue.
 * @module
 */
import { lateImport } from "../config/mod.ts";
import type { DecisionState } from "./state.ts";

/** Default most decided tx_ids remembered (oldest delivered ones are forgotten first). */
export const DEFAULT_MAX_DECIDED = 1_000_000;

/**
 * Opens (creating when missing) the state store at `path`.
 * @throws {FileInUseError} when another process (or store) writes this file
 * @throws {NewerSchemaError} when a newer release stamped it
 * @example
 * ```ts
 * const state = await openDecisionState("data/policy-state.db");
 * state.close();
 * ```
 */
export async function openDecisionState(
  path: string,
  maxDecided = DEFAULT_MAX_DECIDED,
): Promise<DecisionState> {
  const { DecisionState } = await lateImport<typeof import("./state.ts")>(
    "./state.ts",
    import.meta.url,
  );
  return new DecisionState(path, maxDecided);
}
