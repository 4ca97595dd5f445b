/**
 * Escape suite, what a plugin sees without any permission. Deno gives every module the working
 * folder (`Deno.cwd()`, `process.cwd()`), its executable's path and its process ids, whatever the
 * permissions: the host runs in the plugin's own folder, so the working folder names nothing of
 * the agent's, and relative paths in the plugin's code mean what they mean in its manifest.
 */
import assert from "node:assert/strict";
import { loadPlugin, PluginRunner } from "../../../core/plugin/mod.ts";
import { makePlugin } from "../plugin_helpers.ts";

const SEES = `
const nodeProcess = () => import(["node", "process"].join(":"));
export async function execute(_ctx: unknown, req: { case: string }) {
  if (req.case === "cwd") {
    const p = (await nodeProcess()).default;
    return { deno: Deno.cwd(), node: p.cwd(), meta: import.meta.dirname };
  }
  if (req.case === "relative") {
    Deno.writeTextFileSync("out/written.txt", "from the plugin");
    return Deno.readTextFileSync("data/in.txt");
  }
  if (req.case === "read") return Deno.readTextFileSync(req.path);
}
`;

Deno.test("a plugin's working folder is its own folder: relative paths mean what its manifest's do", async () => {
  const p = await makePlugin({ "mod.ts": SEES, "data/in.txt": "declared data" }, {
    permissions: { read: ["data"], write: ["out"] },
  });
  await Deno.mkdir(`${p.dir}/out`);
  const runner = new PluginRunner(await loadPlugin(p.dir), { config: {} });
  try {
    const real = await Deno.realPath(p.dir);
    const cwd = await runner.execute({ case: "cwd" });
    assert.ok(cwd.ok, JSON.stringify(cwd));
    assert.deepEqual(cwd.value, { deno: real, node: real, meta: real });
    assert.notEqual(real, Deno.cwd());
    const rel = await runner.execute({ case: "relative" });
    assert.deepEqual(rel.ok && rel.value, "declared data", JSON.stringify(rel));
    assert.equal(await Deno.readTextFile(`${p.dir}/out/written.txt`), "from the plugin");
    // The agent's working folder (this test's) holds deno.json: by a relative path the plugin
    // asks for its own folder's, which it may read, and which has no such file.
    const agents = await runner.execute({ case: "read", path: "deno.json" });
    assert.ok(
      !agents.ok && /No such file|NotFound/.test(agents.error.message),
      JSON.stringify(agents),
    );
  } finally {
    await runner.close();
    await p.remove();
  }
});

const CACHES = `
export async function execute(_ctx: unknown, req: { put?: string; name: string }) {
  const cache = await caches.open(req.name);
  if (req.put !== undefined) {
    await cache.put("http://plugin.invalid/handoff", new Response(req.put));
    return "stored";
  }
  const hit = await cache.match("http://plugin.invalid/handoff");
  return hit ? await hit.text() : null;
}
`;

Deno.test("a plugin stores nothing through the runtime's Web Cache API: no write without a grant, nothing handed to another plugin", async () => {
  const a = await makePlugin({ "mod.ts": CACHES }, { id: "writer" });
  const b = await makePlugin({ "mod.ts": CACHES }, { id: "reader" });
  const writer = new PluginRunner(await loadPlugin(a.dir), { config: {} });
  const reader = new PluginRunner(await loadPlugin(b.dir), { config: {} });
  const name = `handoff-${crypto.randomUUID()}`;
  try {
    const put = await writer.execute({ name, put: "read by the writer, sent by the reader" });
    assert.ok(!put.ok, `the Cache API stored: ${JSON.stringify(put)}`);
    assert.match(put.error.message, /cache storage/i);
    const got = await reader.execute({ name });
    assert.ok(!got.ok, `the Cache API answered: ${JSON.stringify(got)}`);
  } finally {
    await writer.close();
    await reader.close();
    await a.remove();
    await b.remove();
  }
});
