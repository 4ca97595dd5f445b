/**
 * Writes the plugin host's JavaScript, core/plugin/js/host_main.js and worker_entry.js, from its
 * TypeScript (core/plugin/host_main.ts with protocol.ts, and worker_entry.ts) with `deno bundle`.
 * A plugin host has no module cache (its DENO_DIR is a path no folder can be made at), so in
 * `deno run` mode it runs these files: a cold start transpiles only the plugin's own TypeScript.
 * tests/core/plugin/host_js_test.ts fails when the committed files are not what the TypeScript gives.
 *
 * Usage: deno run -A scripts/plugin_host_js.ts
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The generated files, relative to the checkout, and the TypeScript entry each comes from. */
export const HOST_JS: ReadonlyArray<{ file: string; from: string }> = [
  { file: "core/plugin/js/host_main.js", from: "core/plugin/host_main.ts" },
  { file: "core/plugin/js/worker_entry.js", from: "core/plugin/worker_entry.ts" },
];

const decoder = new TextDecoder();

async function run(args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  if (!out.success) throw new Error(`deno ${args[0]}: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

/**
 * The text a generated file should have: the bundle of its entry (paths in its comments relative
 * to the checkout), under a header naming its source, formatted as `deno fmt` writes it.
 * @throws {Error} when `deno bundle` or `deno fmt` fails
 */
export async function hostJs(from: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "iatp-plugin-host-js-" });
  try {
    const out = join(dir, "out.js");
    await run(["bundle", "--quiet", "--no-config", "--platform=deno", "-o", out, from]);
    // Lint is for the TypeScript; the bundler writes `var` and the like.
    const header = "// deno-lint-ignore-file\n" +
      `// Generated from ${from} by scripts/plugin_host_js.ts: do not edit; run the\n` +
      `// script after changing the TypeScript. The plugin host runs this file (no transpiling).\n`;
    return await run(["fmt", "--ext", "js", "-"], header + await Deno.readTextFile(out));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  for (const { file, from } of HOST_JS) {
    const path = join(ROOT, file);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, await hostJs(from));
    console.log(`wrote ${file}`);
  }
}
