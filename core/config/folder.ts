/**
 * Creating the folder of a path setting. The launchers grant a path setting's own file, and its
 * folder only when that folder does not exist yet; a service must not fail on an existing folder
 * it was not granted. @module
 */
import { dirname } from "node:path";

/**
 * Creates the folder `file` sits in (and its parents) unless it exists. A folder this process
 * may not write is left alone: it exists (the launcher grants a missing one), and opening the
 * file reports any real problem.
 * @example
 * ```ts
 * await ensureParentDir("/var/lib/iatp/audit.db");
 * ```
 * @throws {Error} any failure other than a denied permission, with the cause
 */
export async function ensureParentDir(file: string): Promise<void> {
  await ensureDir(dirname(file));
}

/**
 * Creates folder `dir` (and its parents) unless it exists; a folder this process may not write
 * is left alone, as in {@linkcode ensureParentDir}.
 * @example
 * ```ts
 * await ensureDir(DATA_DIR);
 * ```
 * @throws {Error} any failure other than a denied permission, with the cause
 */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) return;
    throw err;
  }
}
