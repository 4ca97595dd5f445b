/**
 * Escape suite, links: a plugin may read its own folder, and Deno checks the path asked for, not
 * where a symlink in it leads. So a plugin folder whose links lead out (or nowhere) is refused
 * when it is loaded; links that stay inside are followed as usual.
 */
import assert from "node:assert/strict";
import {
  ExternalRunner,
  loadPlugin,
  PluginError,
  PluginRunner,
  sandboxUnavailable,
} from "../../../core/plugin/mod.ts";
import { tempDir } from "../../helpers.ts";
import { makePlugin } from "../plugin_helpers.ts";

const READ_THROUGH = `export function execute(_ctx: unknown, req: { path: string }) {
  return Deno.readTextFileSync(new URL("./" + req.path, import.meta.url));
}
`;

async function refused(dir: string, named: RegExp): Promise<void> {
  await assert.rejects(loadPlugin(dir), (err: unknown) => {
    assert.ok(err instanceof PluginError, String(err));
    assert.equal(err.code, "link_outside");
    assert.match(err.message, named);
    return true;
  });
}

Deno.test("a plugin folder holding a symlink that leads out of it is refused, naming the link", async () => {
  const p = await makePlugin({ "mod.ts": READ_THROUGH, "lib/ok.txt": "inside" });
  try {
    // A secret next to the plugin folder, outside it and outside any sandbox grant.
    await Deno.mkdir(`${p.root}/secret`);
    await Deno.writeTextFile(`${p.root}/secret/key.txt`, "not for plugins");
    await Deno.symlink(`${p.root}/secret`, `${p.dir}/leak`);
    await refused(p.dir, /leak is a symlink to .*\/secret, outside the folder/);
    await Deno.remove(`${p.dir}/leak`);
    // Nested, relative, to a file.
    await Deno.symlink("../../secret/key.txt", `${p.dir}/lib/key.txt`);
    await refused(p.dir, /lib\/key\.txt is a symlink to .*\/secret\/key\.txt, outside/);
    await Deno.remove(`${p.dir}/lib/key.txt`);
    // A link that leads nowhere now could lead anywhere later.
    await Deno.symlink(`${p.root}/not-yet`, `${p.dir}/later`);
    await refused(p.dir, /later is a symlink that cannot be resolved/);
  } finally {
    await p.remove();
  }
});

Deno.test("a symlink that stays inside the plugin folder is loaded and read through", async () => {
  const p = await makePlugin({ "mod.ts": READ_THROUGH, "lib/ok.txt": "inside" });
  await Deno.symlink("lib", `${p.dir}/alias`);
  const runner = new PluginRunner(await loadPlugin(p.dir), { config: {} });
  try {
    const r = await runner.execute({ path: "alias/ok.txt" });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value, "inside");
  } finally {
    await runner.close();
    await p.remove();
  }
});

Deno.test("an external plugin's links may lead into the system folders its sandbox mounts read-only (a virtualenv), nowhere else", async () => {
  const p = await makePlugin({ "trigger.py": "print('{}')\n" }, {
    kind: "trigger",
    entry: "trigger.py",
    runtime: { type: "python" },
  });
  try {
    const python = await Deno.realPath("/usr/bin/python3");
    await Deno.mkdir(`${p.dir}/venv/bin`, { recursive: true });
    await Deno.symlink(python, `${p.dir}/venv/bin/python`);
    await Deno.symlink("python", `${p.dir}/venv/bin/python3`);
    const loaded = await loadPlugin(p.dir);
    assert.equal(loaded.manifest.entry, "trigger.py");
    // /etc is not mounted in its sandbox: a link there is refused as for any plugin.
    await Deno.symlink("/etc", `${p.dir}/leak`);
    await refused(p.dir, /leak is a symlink to \/etc, outside the folder/);
  } finally {
    await p.remove();
  }
});

Deno.test("a link added to a loaded plugin's folder is refused at the next host start, before the plugin runs again", async () => {
  const p = await makePlugin({ "mod.ts": READ_THROUGH, "lib/ok.txt": "inside" });
  await Deno.mkdir(`${p.root}/secret`);
  await Deno.writeTextFile(`${p.root}/secret/key.txt`, "not for plugins");
  // One call per host: every call starts a host from the folder, as a cold start does.
  const runner = new PluginRunner(await loadPlugin(p.dir), { config: {}, maxCallsPerHost: 1 });
  try {
    const first = await runner.execute({ path: "lib/ok.txt" });
    assert.deepEqual(first.ok && first.value, "inside", JSON.stringify(first));
    await Deno.symlink(`${p.root}/secret`, `${p.dir}/leak`);
    const refusedCall = await runner.execute({ path: "leak/key.txt" });
    assert.ok(!refusedCall.ok, JSON.stringify(refusedCall));
    assert.equal(refusedCall.error.type, "denied");
    assert.match(refusedCall.error.message, /^link_outside: .*leak is a symlink to .*\/secret/);
    assert.ok(!JSON.stringify(refusedCall).includes("not for plugins"));
    assert.deepEqual(runner.stats().hosts, 0, "no host was started");
    // Gone again: the plugin runs as before.
    await Deno.remove(`${p.dir}/leak`);
    const again = await runner.execute({ path: "lib/ok.txt" });
    assert.deepEqual(again.ok && again.value, "inside", JSON.stringify(again));
  } finally {
    await runner.close();
    await p.remove();
  }
});

const ARGV_ACTION = new URL("../external/fixtures/py-argv-action", import.meta.url).pathname;
const noSandbox = await sandboxUnavailable();

Deno.test({
  name: "an external plugin's folder is checked again before each of its processes starts",
  ignore: noSandbox !== undefined,
  fn: async () => {
    const dir = await tempDir("iatp-external-links-");
    const folder = `${dir.path}/py-argv-action`;
    await Deno.mkdir(folder);
    for (const f of ["plugin.yaml", "main.py"]) {
      await Deno.copyFile(`${ARGV_ACTION}/${f}`, `${folder}/${f}`);
    }
    const runner = new ExternalRunner(await loadPlugin(folder), {
      config: {},
      workRoot: `${dir.path}/work`,
      network: false,
    });
    try {
      const first = await runner.execute({ n: 1 });
      assert.ok(first.ok, JSON.stringify(first));
      await Deno.symlink("/root", `${folder}/leak`);
      const refusedCall = await runner.execute({ n: 2 });
      assert.ok(!refusedCall.ok, JSON.stringify(refusedCall));
      assert.equal(refusedCall.error.type, "denied");
      assert.match(refusedCall.error.message, /^link_outside: .*leak is a symlink to \/root/);
    } finally {
      await runner.close();
      await dir.remove();
    }
  },
});
