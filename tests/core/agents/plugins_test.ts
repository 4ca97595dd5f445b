import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { PluginCatalog } from "../../../core/agents/plugins.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { tempDir } from "../../helpers.ts";

Deno.test("catalog: a trigger asking for a longer timeout than security.sandbox.max_exec_time is stopped at the setting", async () => {
  const dir = await tempDir();
  const plugin = join(dir.path, "builtin", "never-done");
  await Deno.mkdir(plugin, { recursive: true });
  await Deno.writeTextFile(
    join(plugin, "plugin.yaml"),
    stringify({
      id: "never-done",
      name: "Never done",
      version: "1.0.0",
      kind: "trigger",
      entry: "mod.ts",
      limits: { timeout_ms: 20_000, memory_mb: 64 },
    }),
  );
  await Deno.writeTextFile(
    join(plugin, "mod.ts"),
    "export function detect() {\n  return new Promise(() => {});\n}\n",
  );
  const catalog = new PluginCatalog({
    installedDir: join(dir.path, "installed"),
    builtinDir: join(dir.path, "builtin"),
    sandbox: {
      maxMemoryBytes: 1 << 30,
      maxExecTimeMs: 500,
      allowedPaths: [],
      networkAccess: false,
    },
    poolSize: 1,
    maxRunners: 1,
    log: createLogger({ service: "t", level: "error", sink: () => {} }),
  });
  try {
    const runner = await catalog.runner("never-done", "trigger", {});
    assert.equal(runner.plugin.manifest.limits.timeout_ms, 500);
    const r = await runner.detect();
    assert.ok(!r.ok, JSON.stringify(r));
    assert.equal(r.error.type, "timeout");
    assert.match(r.error.message, /timeout of 500 ms/);
  } finally {
    await catalog.close();
    await dir.remove();
  }
});
