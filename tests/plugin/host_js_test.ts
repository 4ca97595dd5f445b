/**
 * The plugin host's own modules. A host has no cache to keep compiled code in (its DENO_DIR is a
 * path no folder can be made at), so whatever it loads is compiled afresh at each cold start: it
 * runs JavaScript generated from its TypeScript (scripts/plugin_host_js.ts), and imports no
 * `node:` module, which would bring Deno's Node compatibility layer with it, the larger part of a
 * cold start and several MiB of each warm host (it reads its CPU time from `Deno.cpuUsage()`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HOST_JS, hostJs } from "../../scripts/plugin_host_js.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HOST_FILES = HOST_JS.flatMap(({ file, from }) => [join(ROOT, from), join(ROOT, file)]);

interface Graph {
  modules: Array<{
    specifier: string;
    dependencies?: Array<{ specifier: string; isDynamic?: boolean }>;
  }>;
}

async function graphOf(file: string): Promise<Graph> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--no-config", "--no-npm", "--no-remote", file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("the plugin host's JavaScript is what its TypeScript gives (run scripts/plugin_host_js.ts)", async () => {
  for (const { file, from } of HOST_JS) {
    const have = await Deno.readTextFile(join(ROOT, file));
    assert.ok(
      have === await hostJs(from),
      `${file} is stale: deno run -A scripts/plugin_host_js.ts`,
    );
  }
});

Deno.test("the plugin host and its Worker bootstrap import no node: module", async () => {
  for (const file of HOST_FILES) {
    const graph = await graphOf(file);
    const nodeImports = graph.modules.flatMap((m) =>
      (m.dependencies ?? [])
        .filter((d) => d.specifier.startsWith("node:") && !d.isDynamic)
        .map((d) => `${m.specifier} imports ${d.specifier}`)
    );
    assert.deepEqual(nodeImports, [], file);
  }
});

Deno.test("the runtime has Deno.cpuUsage(), so the host's fallback to node:process stays unused", () => {
  const cpuUsage = (Deno as unknown as { cpuUsage?: () => { user: number; system: number } })
    .cpuUsage;
  assert.equal(typeof cpuUsage, "function");
  const u = cpuUsage!();
  assert.ok(Number.isFinite(u.user) && Number.isFinite(u.system) && u.user + u.system > 0);
});
