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
import { DatabaseSync } from "node:sqlite";
import { HOST_JS, hostJs } from "../../../scripts/plugin_host_js.ts";
import { loadPlugin } from "../../../core/plugin/mod.ts";
import {
  computeGrants,
  HOST_RSS_OVERHEAD_MB,
  hostCommand,
  workerPermissions,
} from "../../../core/plugin/grants.ts";
import { PluginHost } from "../../../core/plugin/host.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { makePlugin } from "../../plugin/plugin_helpers.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
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

/**
 * A host as the runner starts it, but with a usable DENO_DIR: V8's code cache there lists every
 * module the host compiled. The runtime's own modules that are not in its snapshot (the Node
 * layer, which the global timers are built on too, and the streams behind `Deno.stdin.readable`)
 * are compiled again at every start of a real host, which has no cache.
 */
Deno.test("a plugin host starts and serves a call without compiling any module of the runtime's own", async () => {
  const p = await makePlugin({ "mod.ts": "export function execute() { return 1; }\n" });
  const denoDir = await Deno.makeTempDir({ prefix: "iatp-host-code-cache-" });
  let host: PluginHost | undefined;
  try {
    const plugin = await loadPlugin(p.dir);
    const m = plugin.manifest;
    const grants = computeGrants(plugin.dir, m, {});
    host = new PluginHost({
      command: hostCommand(plugin.dir, grants, m.limits, { NO_COLOR: "1", DENO_DIR: denoDir }),
      init: {
        entryUrl: new URL(`file://${plugin.dir}/${m.entry}`).href,
        plugin: { id: m.id, version: m.version, kind: m.kind },
        config: {},
        permissions: workerPermissions(plugin.dir, grants),
        maxOutputBytes: m.limits.max_output_bytes,
        rssLimitBytes: (m.limits.memory_mb + HOST_RSS_OVERHEAD_MB) * 1024 * 1024,
        maxLogLines: 100,
        maxEvents: 100,
        maxIdleCpuMs: 1000,
      },
      startTimeoutMs: 20_000,
      scrub: (s) => s,
      scrubLocal: (s) => s,
      log: silentLogger,
    });
    const started = await host.start();
    assert.ok(started.ok, JSON.stringify(started));
    const r = await host.call("execute", {}, 20_000);
    assert.deepEqual(r.ok && r.value, 1, JSON.stringify(r));
    host.kill();
    await host.closed;
    host = undefined;
    const db = new DatabaseSync(join(denoDir, "v8_code_cache_v2"), { readOnly: true });
    const compiled = db.prepare("SELECT specifier FROM codecache").all().map((row) =>
      String(row.specifier)
    );
    db.close();
    assert.ok(compiled.some((s) => s.endsWith("/js/host_main.js")), compiled.join(" "));
    assert.deepEqual(compiled.filter((s) => !s.startsWith("file:")), []);
  } finally {
    host?.kill();
    await host?.closed;
    await Deno.remove(denoDir, { recursive: true });
    await p.remove();
  }
});
