/**
 * Escape suite, import half: literal imports load with the host process's rights, so the import
 * audit must reject them before anything runs. Each case is also run with the audit bypassed to
 * show the second line: the plugin-host child's own least-privilege Deno flags.
 */
import assert from "node:assert/strict";
import { loadPlugin, PluginError, PluginRunner } from "../../../core/plugin/mod.ts";
import { type LoadedPlugin, parseManifest } from "../../../core/plugin/mod.ts";
import { makePlugin } from "../plugin_helpers.ts";

const OK_EXPORT = "export function execute() { return 1; }\n";

async function rejected(files: Record<string, string>, named: RegExp): Promise<void> {
  const p = await makePlugin(files);
  try {
    await assert.rejects(loadPlugin(p.dir), (err: unknown) => {
      assert.ok(err instanceof PluginError);
      assert.equal(err.code, "import_denied");
      assert.match(err.message, named);
      return true;
    });
  } finally {
    await p.remove();
  }
}

// Runs a plugin without the audit (as if it had a hole) and returns the first call's result.
async function runUnaudited(files: Record<string, string>) {
  const p = await makePlugin(files);
  const manifest = parseManifest(await Deno.readTextFile(`${p.dir}/plugin.yaml`), "plugin.yaml");
  const plugin: LoadedPlugin = {
    dir: p.dir,
    manifest,
    audit: { modules: [], computedImports: [] },
  };
  const runner = new PluginRunner(plugin, { config: {} });
  try {
    return await runner.execute({});
  } finally {
    await runner.close();
    await p.remove();
  }
}

Deno.test("statically importing a file outside the folder is rejected, naming the import", async () => {
  await rejected(
    {
      "mod.ts": `import { x } from "../outside.ts";\n${OK_EXPORT}`,
      "../outside.ts": "export const x = 1;",
    },
    /mod\.ts: import "\.\.\/outside\.ts": resolves outside the plugin folder/,
  );
});

Deno.test("a re-export from outside the folder is rejected", async () => {
  await rejected(
    { "mod.ts": `export * from "/etc/hostname";\n${OK_EXPORT}` },
    /"\/etc\/hostname": resolves outside/,
  );
});

Deno.test("a symlink inside the folder pointing outside is rejected", async () => {
  const p = await makePlugin({
    "mod.ts": `import { x } from "./lib/link.ts";\n${OK_EXPORT}`,
    "../secret.ts": "export const x = 'secret';",
  });
  try {
    await Deno.mkdir(`${p.dir}/lib`);
    await Deno.symlink(`${p.root}/secret.ts`, `${p.dir}/lib/link.ts`);
    await assert.rejects(
      loadPlugin(p.dir),
      /lib\/link\.ts": resolves outside the plugin folder \(to .*secret\.ts\)/,
    );
  } finally {
    await p.remove();
  }
});

Deno.test("a folder that is itself a symlink is audited by its real path", async () => {
  const p = await makePlugin({
    "mod.ts": `import { x } from "./util.ts";\nexport const execute = () => x;`,
    "util.ts": "export const x = 2;",
  });
  try {
    await Deno.symlink(p.dir, `${p.root}/alias`);
    const loaded = await loadPlugin(`${p.root}/alias`);
    assert.equal(loaded.dir, await Deno.realPath(p.dir));
    assert.equal(loaded.audit.modules.length, 2);
  } finally {
    await p.remove();
  }
});

Deno.test("literally import()ing /etc/hostname is rejected (quotes and template literals)", async () => {
  await rejected(
    { "mod.ts": `export const execute = () => import("/etc/hostname");` },
    /"\/etc\/hostname": resolves outside/,
  );
  await rejected(
    { "mod.ts": "export const execute = () => import(`/etc/hostname`);" },
    /"\/etc\/hostname"/,
  );
  await rejected(
    { "mod.ts": `export const execute = () => import("file:///etc/hostname");` },
    /file:\/\/\/etc\/hostname/,
  );
});

Deno.test("remote, npm: and jsr: imports are rejected", async () => {
  await rejected(
    { "mod.ts": `import "https://deno.land/x/evil/mod.ts";\n${OK_EXPORT}` },
    /https: imports are not allowed/,
  );
  await rejected(
    { "mod.ts": `import x from "npm:left-pad";\n${OK_EXPORT}` },
    /"npm:left-pad": npm: imports are not allowed/,
  );
  await rejected(
    { "mod.ts": `import x from "jsr:@std/fs";\n${OK_EXPORT}` },
    /jsr: imports are not allowed/,
  );
  await rejected(
    { "mod.ts": `import x from "hono";\n${OK_EXPORT}` },
    /"hono": bare specifiers are not allowed/,
  );
});

Deno.test("node:child_process and node:fs are rejected; harmless built-ins pass", async () => {
  await rejected(
    { "mod.ts": `import { execSync } from "node:child_process";\n${OK_EXPORT}` },
    /"node:child_process": Node built-in not allowed/,
  );
  await rejected(
    { "mod.ts": `import fs from "node:fs";\n${OK_EXPORT}` },
    /"node:fs": Node built-in not allowed/,
  );
  const p = await makePlugin({
    "mod.ts":
      `import { Buffer } from "node:buffer";\nexport const execute = () => Buffer.from("a").length;`,
  });
  try {
    assert.equal((await loadPlugin(p.dir)).audit.modules.length, 1);
  } finally {
    await p.remove();
  }
});

Deno.test("problems deep in the module graph are found and all listed", async () => {
  await rejected({
    "mod.ts": `import { a } from "./lib/a.ts";\n${OK_EXPORT}`,
    "lib/a.ts": `import "node:net";\nexport { b as a } from "../../../../etc/b.ts";`,
  }, /lib\/a\.ts: import "node:net"[\s\S]*lib\/a\.ts: import "\.\.\/\.\.\/\.\.\/\.\.\/etc\/b\.ts"/);
});

Deno.test("the SDK may only be imported as types", async () => {
  const sdk = new URL("../../../plugins/sdk.ts", import.meta.url).pathname;
  await rejected(
    { "mod.ts": `import { x } from "${sdk}";\n${OK_EXPORT}` },
    /import the SDK with `import type`/,
  );
  const p = await makePlugin({
    "mod.ts":
      `import type { PluginContext } from "${sdk}";\nexport const execute = (_c: PluginContext) => 1;`,
  });
  try {
    assert.equal((await loadPlugin(p.dir)).audit.modules.length, 1);
  } finally {
    await p.remove();
  }
});

Deno.test("computed dynamic imports are reported, not rejected (the Worker's permissions decide)", async () => {
  const p = await makePlugin({
    "mod.ts": `export const execute = (_c: unknown, r: { m: string }) => import(r.m);`,
  });
  try {
    const loaded = await loadPlugin(p.dir);
    assert.equal(loaded.audit.computedImports.length, 1);
  } finally {
    await p.remove();
  }
});

Deno.test("second line: with the audit bypassed, the child's Deno flags still deny a static import outside", async () => {
  const r = await runUnaudited({
    "mod.ts":
      `import x from "/etc/hostname" with { type: "text" };\nexport const execute = () => x;`,
  });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.error.type === "denied", JSON.stringify(r));
  assert.ok(!r.ok && /read access to "\/etc\/hostname"/.test(r.error.message), JSON.stringify(r));
});

Deno.test("second line: with the audit bypassed, a remote import cannot load (--no-remote)", async () => {
  const r = await runUnaudited({
    "mod.ts": `import "https://deno.land/x/evil/mod.ts";\n${OK_EXPORT}`,
  });
  assert.ok(
    !r.ok && r.error.type === "denied" && /import access/.test(r.error.message),
    JSON.stringify(r),
  );
});

Deno.test("second line: with the audit bypassed, a static node:child_process import cannot run anything", async () => {
  const r = await runUnaudited({
    "mod.ts":
      `import { execFileSync } from "node:child_process";\nexport const execute = () => String(execFileSync("/usr/bin/id"));`,
  });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.error.type === "denied", JSON.stringify(r));
});
