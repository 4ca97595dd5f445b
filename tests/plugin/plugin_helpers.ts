/**
 * Test helpers for plugins: write a throwaway plugin folder (plugin.yaml + modules) into a temp
 * dir, so each test shows the exact source it runs.
 * @module
 */
import { stringify } from "yaml";
import { tempDir } from "../helpers.ts";

/** The SDK, by absolute path, for `import type` lines in throwaway plugins. */
export const SDK_PATH = new URL("../../plugins/sdk.ts", import.meta.url).pathname;

/** A temp plugin folder. */
export interface TempPlugin {
  /** The temp dir holding the folder. */
  root: string;
  /** The plugin folder itself (`<root>/plugin`). */
  dir: string;
  remove(): Promise<void>;
}

/**
 * Writes `<tmp>/plugin/plugin.yaml` (a minimal action manifest merged with `manifest`) and each
 * of `files` (path relative to the plugin folder -> source).
 */
export async function makePlugin(
  files: Record<string, string>,
  manifest: Record<string, unknown> = {},
): Promise<TempPlugin> {
  const tmp = await tempDir("iatp-plugin-test-");
  const dir = `${tmp.path}/plugin`;
  await Deno.mkdir(dir);
  const m = {
    id: "test-plugin",
    name: "Test plugin",
    version: "1.0.0",
    kind: "action",
    entry: "mod.ts",
    limits: { timeout_ms: 20_000, memory_mb: 64 },
    ...manifest,
  };
  await Deno.writeTextFile(`${dir}/plugin.yaml`, stringify(m));
  for (const [path, src] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, src);
  }
  return { root: tmp.path, dir, remove: tmp.remove };
}
