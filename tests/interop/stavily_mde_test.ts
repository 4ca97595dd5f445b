// Stavily Machine-Data-Extractor on iatp: opt-in (IATP_UPSTREAM_SNAPSHOTS=/work/.mirror), the
// upstream plugin itself (read from the mirror at run time, never committed) runs under iatp's
// bubblewrap sandbox: one extraction (monitor interval 0) as an action, then its monitoring
// loop, whose JSON-RPC calls (ping, upload_logs, report_trigger) reach the agent's socket.
// In CI the same protocol is covered by our own plugin (tests/plugin/external_test.ts).
import assert from "node:assert/strict";
import { ExternalRunner, loadPlugin, sandboxUnavailable } from "../../core/plugin/mod.ts";
import { tempDir, waitFor } from "../helpers.ts";

const SNAPSHOTS = Deno.env.get("IATP_UPSTREAM_SNAPSHOTS");
const why = await sandboxUnavailable();

async function checkout(into: string): Promise<string> {
  const git = `${SNAPSHOTS}/Stavily+Machine-Data-Extractor/repo`;
  const out = await new Deno.Command("git", {
    args: [`--git-dir=${git}`, "archive", "--format=tar", "HEAD"],
    stdout: "piped",
  }).output();
  await Deno.mkdir(`${into}/machine-data-extractor`, { recursive: true });
  const tar = new Deno.Command("tar", {
    args: ["-x", "-C", `${into}/machine-data-extractor`],
    stdin: "piped",
  }).spawn();
  const w = tar.stdin.getWriter();
  await w.write(out.stdout);
  await w.close();
  await tar.status;
  return `${into}/machine-data-extractor`;
}

// Opt-in: registered only when IATP_UPSTREAM_SNAPSHOTS names the upstream sources.
if (SNAPSHOTS) {
  Deno.test({
    name: "opt-in: Machine-Data-Extractor runs sandboxed and calls the agent's JSON-RPC socket",
    ignore: why !== undefined,
    fn: async () => {
      const dir = await tempDir();
      const logs: string[] = [];
      const plugin = await loadPlugin(await checkout(dir.path));
      assert.deepEqual([plugin.manifest.kind, plugin.manifest.runtime?.protocol], [
        "trigger",
        "rpc",
      ]);
      const make = (config: Record<string, unknown>) =>
        new ExternalRunner(plugin, {
          config,
          workRoot: `${dir.path}/work`,
          network: false,
          agent: { id: "mde-agent", version: "1.0.0", environment: "dev" },
          onLogs: (_iid, l) => logs.push(...l),
        });
      const once = make({
        monitor_interval: 0,
        cpu_trigger_percentage: 90,
        mem_trigger_percentage: 90,
      });
      const loop = make({
        monitor_interval: 1,
        cpu_trigger_percentage: 1,
        mem_trigger_percentage: 1,
      });
      try {
        const r = await once.execute({});
        assert.ok(r.ok, JSON.stringify(r).slice(0, 500));
        assert.equal((r.value as { status: string }).status, "success");
        let types: string[] = [];
        await waitFor(
          async () => {
            const d = await loop.detect();
            assert.ok(d.ok, JSON.stringify(d).slice(0, 500));
            types = types.concat(d.value.map((e) => e.type));
            return types.includes("memory_high");
          },
          30_000,
          "memory_high from report_trigger",
        );
        console.log("events:", types, "log lines:", logs.length);
      } finally {
        await once.close();
        await loop.close();
        await dir.remove();
      }
    },
  });
}
