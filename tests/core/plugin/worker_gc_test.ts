/** A plugin never gets V8's `gc`, even in a host process started with --expose-gc. @module */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

Deno.test("the plugin Worker has no gc when its process runs with --expose-gc", async () => {
  const dir = await Deno.makeTempDir({ prefix: "iatp-gc-plugin-" });
  try {
    await Deno.writeTextFile(
      `${dir}/mod.ts`,
      "export function detect() { return typeof (globalThis as { gc?: unknown }).gc; }\n",
    );
    const probe = fileURLToPath(new URL("./worker_gc_probe.ts", import.meta.url));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--v8-flags=--expose-gc", "--allow-read", probe, dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, stderr);
    const seen = JSON.parse(new TextDecoder().decode(out.stdout));
    // The flag applies (the host isolate has gc); the plugin's realm does not.
    assert.deepEqual(seen, { host: "function", plugin: "undefined" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
