/**
 * A real sensor agent and a real plugin folder: a link out of the folder added while the sensor
 * runs the plugin is refused at the next start of the plugin's host, though the sensor never loads
 * the plugin again in between (its host is replaced, not its runner: here the plugin prints past
 * max_output_bytes after each call, so each run starts a fresh host from the folder).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/sensor.ts";
import { health, writePlugin } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { tempDir, waitFor } from "../helpers.ts";

const TOKEN = "sensor-links-token-0001";
const SECRET = "secret-beside-the-plugin-9d41";

// Reads leak/key.txt (relative: the host runs in the plugin's folder) when it is there, then
// prints past its max_output_bytes once the call has returned, which ends its host.
const READS_THROUGH = `
export function detect() {
  let found = "nothing";
  try { found = Deno.readTextFileSync("leak/key.txt"); } catch { /* no link yet */ }
  setTimeout(() => Deno.stdout.writeSync(new TextEncoder().encode("x".repeat(8192) + "\\n")), 0);
  return [{ type: "probe", source: "read " + found + " " + crypto.randomUUID(), severity: "low" }];
}
`;

type Triggers = Record<string, { runs: number; failures: number; last_error?: string }>;

Deno.test("sensor: a link out added to a running plugin's folder is refused before the plugin's next host reads through it", async () => {
  const dir = await tempDir("iatp-sensor-links-");
  const plugins = join(dir.path, "plugins");
  const folder = await writePlugin(plugins, "reads-through", "trigger", READS_THROUGH, {}, {
    limits: { timeout_ms: 20_000, memory_mb: 64, max_output_bytes: 4096 },
  });
  await Deno.mkdir(join(dir.path, "secret"));
  await Deno.writeTextFile(join(dir.path, "secret", "key.txt"), SECRET);
  const orch = await startFakeOrchestrator({ agentId: "sensor-links", token: TOKEN });
  const sensor = await command.start(command.resolve({
    agent: { id: "sensor-links", base_folder: join(dir.path, "agent"), heartbeat: 60_000 },
    api: { base_url: orch.url },
    security: { auth: { api_key: TOKEN } },
    plugins: { directory: plugins },
    health: { port: 0 },
    logging: { level: "error" },
    sensor: {
      publish_to: "orchestrator",
      triggers: [{ plugin_id: "reads-through", interval: "2s", config: {} }],
    },
  }));
  const trigger = async () =>
    ((await health(sensor.url)).components as { plugins: { triggers: Triggers } }).plugins
      .triggers["reads-through#0"];
  try {
    // Each run's event is new (no dedup): once the second is in, that run's host has read.
    await waitFor(() => orch.events().length >= 2, 30_000, "two runs' events");
    assert.ok(orch.events().every((e) => String(e.source).startsWith("read nothing ")));
    const runs = (await trigger()).runs;
    await Deno.symlink(join(dir.path, "secret"), join(folder, "leak"));
    const leaked = () => JSON.stringify(orch.events()).includes(SECRET);
    await waitFor(
      async () => leaked() || (await trigger()).failures >= 2,
      30_000,
      "two failed runs (the one that starts a host, then the reload's)",
    );
    assert.ok(!leaked(), `the plugin read through the link: ${JSON.stringify(orch.events())}`);
    const t = await trigger();
    assert.ok(t.runs > runs, JSON.stringify(t));
    assert.match(t.last_error ?? "", /leak is a symlink to .*secret, outside the folder/);
  } finally {
    await sensor.close();
    await orch.close();
    await dir.remove();
  }
});
