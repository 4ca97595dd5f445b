// Stavily plugins (Stavily/06-Plugins) on iatp: our own Python plugin in the 06-Plugins
// dialect runs in the iatp sensor under bubblewrap and its event reaches a fake orchestrator;
// opt-in (IATP_UPSTREAM_SNAPSHOTS=/work/.mirror), the four upstream plugins themselves run
// through the same runner with the requests of 06-Plugins test-plugins.sh.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ExternalRunner, loadPlugin, sandboxUnavailable } from "../../core/plugin/mod.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";

const FIXTURES = fileURLToPath(new URL("../plugin/external/fixtures/", import.meta.url));
const why = await sandboxUnavailable();
const SNAPSHOTS = Deno.env.get("IATP_UPSTREAM_SNAPSHOTS");

Deno.test({
  name: "iatp sensor runs a 06-Plugins-style Python trigger; the event reaches the orchestrator",
  ignore: why !== undefined,
  fn: async () => {
    const dir = await tempDir();
    const orch = await startFakeOrchestrator({ agentId: "py-sensor-1", token: "tok-py" });
    const config = `${dir.path}/sensor.yaml`;
    await Deno.writeTextFile(
      config,
      `agent:\n  id: py-sensor-1\n  type: sensor\n  tenant_id: t-1\n  heartbeat: 1s\n` +
        `api:\n  base_url: ${orch.url}\nsecurity:\n  auth:\n    api_key: tok-py\n` +
        `plugins:\n  directory: ${FIXTURES}\nhealth:\n  port: 0\n` +
        `sensor:\n  triggers:\n    - plugin_id: py-lines-trigger\n      interval: 500ms\n` +
        `      config: {threshold: 0}\n`,
    );
    const agent = await startIatpService(["sensor", "--config", config], {
      env: { IATP_DATA_DIR: dir.path },
    });
    try {
      await waitFor(() => orch.events().length > 0, 30_000, "an event from the Python plugin");
      const e = orch.events()[0];
      assert.equal(e.type, "memory.high");
      assert.equal(e.agent_id, "py-sensor-1");
      assert.equal(e.tenant_id, "t-1");
      assert.deepEqual(e.metadata, { plugin_id: "py-lines-trigger" });
      assert.deepEqual(orch.violations, []);
    } finally {
      await agent.stop();
      await orch.close();
      await dir.remove();
    }
  },
});

/** Copies one upstream plugin folder out of the bare mirror (run time only, never committed). */
async function upstreamPlugin(path: string, into: string): Promise<string> {
  const git = `${SNAPSHOTS}/Stavily+06-Plugins/repo`;
  const list = await new Deno.Command("git", {
    args: [`--git-dir=${git}`, "ls-tree", "-r", "--name-only", "HEAD", path],
  }).output();
  const dest = `${into}/${path.split("/").at(-1)}`;
  await Deno.mkdir(dest, { recursive: true });
  for (const file of new TextDecoder().decode(list.stdout).trim().split("\n")) {
    const show = await new Deno.Command("git", {
      args: [`--git-dir=${git}`, "show", `HEAD:${file}`],
    }).output();
    await Deno.writeFile(`${dest}/${file.slice(path.length + 1)}`, show.stdout);
  }
  return dest;
}

// Opt-in: registered only when IATP_UPSTREAM_SNAPSHOTS names the upstream sources.
if (SNAPSHOTS) {
  Deno.test({
    name: "opt-in: the upstream 06-Plugins plugins run under iatp's sandbox (test-plugins.sh)",
    ignore: why !== undefined,
    fn: async () => {
      const dir = await tempDir();
      try {
        const run = async (path: string, config: Record<string, unknown> = {}) => {
          const plugin = await loadPlugin(await upstreamPlugin(path, dir.path));
          return new ExternalRunner(plugin, {
            config,
            workRoot: `${dir.path}/work`,
            network: false,
          });
        };
        // triggers: start (initialize + start), get_health, detect_triggers (thresholds 0: fires).
        for (
          const [path, config] of [
            ["triggers/memory-monitor", { memory_threshold: 0, swap_threshold: 0 }],
            ["triggers/disk-space-monitor", {}],
          ] as const
        ) {
          const r = await run(path, config);
          try {
            const h = await r.health();
            assert.ok(h.ok, `${path}: ${JSON.stringify(h)}`);
            const d = await r.detect();
            assert.ok(d.ok, `${path}: ${JSON.stringify(d)}`);
            console.log(`${path}: ${d.value.length} event(s) ${d.value.map((e) => e.type)}`);
          } finally {
            await r.close();
          }
        }
        // shell-command with the test script's request (demo mode off: it really runs, inside).
        const shell = await run("actions/shell-command");
        try {
          const x = await shell.execute({ command: "ls -la", working_dir: "/tmp" }, {
            instructionId: "test-cmd-001",
          });
          assert.ok(x.ok, JSON.stringify(x));
          const v = x.value as { status: string; data: { return_code: number; stdout: string } };
          assert.equal(v.status, "completed", JSON.stringify(v).slice(0, 300));
          assert.equal(v.data.return_code, 0);
        } finally {
          await shell.close();
        }
        // email-notification has a SyntaxError upstream: reported as a failed plugin.
        const email = await run("actions/email-notification", {
          smtp_server: "smtp.invalid",
          username: "fixture",
          password: "fixture-password",
        });
        try {
          const x = await email.execute({
            to: "admin@example.com",
            subject: "Test Alert",
            body: "This is a test email from Stavily plugins",
          }, { instructionId: "test-email-001" });
          assert.ok(!x.ok && x.error.type === "crashed", JSON.stringify(x));
          assert.ok(x.logs.some((l) => /SyntaxError/.test(l)));
        } finally {
          await email.close();
        }
      } finally {
        await dir.remove();
      }
    },
  });
}
