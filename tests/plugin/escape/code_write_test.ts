/**
 * Escape suite, writes over the plugin's own code: a plugin may write a folder of its own data,
 * never its manifest, signature or modules. Otherwise a signed plugin granted `write: ["."]`
 * could rewrite its plugin.yaml to grant itself more, and the agent would load that manifest,
 * not the one that was signed, at its next start.
 */
import assert from "node:assert/strict";
import { loadPlugin, PluginError, PluginRunner } from "../../../core/plugin/mod.ts";
import { makePlugin } from "../plugin_helpers.ts";

const WRITER = `import { tag } from "./lib/tag.ts";
export function execute(_ctx: unknown, req: { path: string; text: string }) {
  Deno.writeTextFileSync(req.path, req.text);
  return tag;
}
`;
const FILES = { "mod.ts": WRITER, "lib/tag.ts": `export const tag = "wrote";\n` };

function refusedWrite(named: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof PluginError, String(err));
    assert.equal(err.code, "denied");
    assert.match(err.message, named);
    return true;
  };
}

Deno.test("a write grant over the plugin's own folder, manifest or modules is refused at load", async () => {
  for (
    const [write, named] of [
      [["."], /rewrite its own folder/],
      [[".."], /rewrite its own folder/],
      [["plugin.yaml"], /rewrite its own plugin\.yaml/],
      [["plugin.sig"], /rewrite its own plugin\.sig/],
      [["lib"], /rewrite its own lib\/tag\.ts/],
      [["mod.ts"], /rewrite its own mod\.ts/],
    ] as const
  ) {
    const p = await makePlugin(FILES, { permissions: { write } });
    try {
      await assert.rejects(loadPlugin(p.dir), refusedWrite(named), write[0]);
    } finally {
      await p.remove();
    }
  }
});

Deno.test("a write grant from config or through a link that reaches the plugin's code is refused by the runner", async () => {
  const p = await makePlugin(FILES, {
    config: { out: { type: "string", required: true } },
    permissions: { write: ["${config.out}"] },
  });
  try {
    const plugin = await loadPlugin(p.dir);
    assert.throws(
      () => new PluginRunner(plugin, { config: { out: p.dir } }),
      refusedWrite(/rewrite its own folder/),
    );
    await Deno.symlink(p.dir, `${p.root}/alias`);
    assert.throws(
      () => new PluginRunner(plugin, { config: { out: `${p.root}/alias/plugin.yaml` } }),
      refusedWrite(/rewrite its own plugin\.yaml/),
    );
  } finally {
    await p.remove();
  }
});

Deno.test("a write grant of a data folder inside the plugin folder still writes there", async () => {
  const p = await makePlugin(FILES, { permissions: { write: ["out"] } });
  await Deno.mkdir(`${p.dir}/out`);
  const runner = new PluginRunner(await loadPlugin(p.dir), { config: {} });
  try {
    const ok = await runner.execute({ path: "out/state.json", text: "{}" });
    assert.ok(ok.ok, JSON.stringify(ok));
    assert.equal(await Deno.readTextFile(`${p.dir}/out/state.json`), "{}");
    const denied = await runner.execute({ path: "plugin.yaml", text: "id: other\n" });
    assert.equal(denied.ok, false);
    assert.equal(!denied.ok && denied.error.type, "denied");
  } finally {
    await runner.close();
    await p.remove();
  }
});
