/**
 * Escape suite, work left running after a call: a call's timeout ends with the call, so a timer
 * or a Worker the plugin leaves spinning would burn a CPU for as long as its host stays warm. The
 * host stops itself past `maxIdleCpuMs` of CPU between calls (and is stopped past
 * `max_output_bytes` of printing), and the next call gets a fresh one.
 */
import assert from "node:assert/strict";
import { loadPlugin, PluginRunner } from "../../../core/plugin/mod.ts";
import { makePlugin } from "../plugin_helpers.ts";

const LEAVES_WORK = `
export function execute(_ctx: unknown, req: { case: string }) {
  if (req.case === "timer") setTimeout(() => { for (;;) { /* spin */ } }, 0);
  if (req.case === "worker") new Worker(new URL("./spin.ts", import.meta.url), { type: "module" });
  if (req.case === "print") {
    const line = new TextEncoder().encode("p".repeat(64 * 1024) + "\\n");
    setInterval(() => Deno.stdout.writeSync(line), 1);
  }
  return req.case;
}
`;

async function gone(pid: number): Promise<boolean> {
  // Bounded: a host that keeps spinning is still there after a minute.
  for (let i = 0; i < 600; i++) {
    try {
      await Deno.stat(`/proc/${pid}`);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

Deno.test("a host whose plugin leaves a timer or a Worker spinning, or printing, after its call is stopped, and the next call runs on a fresh host", async () => {
  const p = await makePlugin({ "mod.ts": LEAVES_WORK, "spin.ts": "for (;;) { /* spin */ }\n" });
  const runner = new PluginRunner(await loadPlugin(p.dir), { config: {} });
  try {
    for (const what of ["timer", "worker", "print"]) {
      const r = await runner.execute({ case: what });
      assert.deepEqual(r.ok && r.value, what, JSON.stringify(r));
      const [pid] = runner.hostPids();
      assert.ok(await gone(pid), `the ${what} host (pid ${pid}) is still running`);
      const next = await runner.execute({ case: "ok" });
      assert.deepEqual(next.ok && next.value, "ok", JSON.stringify(next));
      assert.notDeepEqual(runner.hostPids(), [pid]);
    }
  } finally {
    await runner.close();
    await p.remove();
  }
});
