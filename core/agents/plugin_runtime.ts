/**
 * The plugin runtime (core/plugin: manifests with yaml and zod, the import audit, signatures
 * with node:crypto, the sandboxed hosts), imported with the first plugin an agent loads, checks
 * or verifies: an agent that has not run a plugin yet does not hold it (about 15 MB idle).
 * @module
 */
import { lateImport } from "../config/mod.ts";

/** core/plugin's exports. */
export type PluginRuntime = typeof import("../plugin/mod.ts");

let loading: Promise<PluginRuntime> | undefined;

/**
 * core/plugin, imported on the first call (the same module after).
 * @example
 * ```ts
 * const { loadPlugin } = await pluginRuntime();
 * ```
 */
export function pluginRuntime(): Promise<PluginRuntime> {
  return loading ??= lateImport<PluginRuntime>("../plugin/mod.ts", import.meta.url);
}
