/**
 * The plugin host's own modules. A host has no cache to keep compiled code in (its DENO_DIR is a
 * path no folder can be made at), so whatever it imports is compiled afresh at each cold start: a
 * `node:` module brings Deno's Node compatibility layer with it, the larger part of a cold start
 * and several MiB of each warm host. The host reads its CPU time from `Deno.cpuUsage()` instead of
 * `node:process`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const HOST_FILES = ["host_main.ts", "worker_entry.ts"].map((f) =>
  fileURLToPath(new URL(`../../core/plugin/${f}`, import.meta.url))
);

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
