// The action agent makes its plugin catalog with the first instruction it runs. An agent told
// to stop while that first instruction has not yet reached its catalog (here: its "executing"
// status still on its way to the orchestrator when shutdown_timeout ends) must still stop it as
// when the catalog was made at start: no plugin host is started for it after the stop, and none
// is left running once the agent has stopped.
import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/action.ts";
import { writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { tempDir, waitFor } from "../helpers.ts";

const TOKEN = "action-stop-catalog-token-0123456789";

Deno.test("action: a stop while the first instruction has not reached its plugin catalog starts no plugin host after it", async () => {
  const dir = await tempDir("iatp-action-stop-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const orch = await startFakeOrchestrator({ agentId: "stop-cat", token: TOKEN });
  // The instruction's "executing" status is held: the agent waits on it before it runs.
  orch.holdNext("status", 1_500);
  orch.enqueue({
    id: "held-1",
    plugin_id: "echo-action",
    instruction_type: "execute",
    plugin_configuration: {},
    input_data: { echo: "after stop", sleep_ms: 200 },
    timeout_seconds: 30,
    max_retries: 0,
  });
  const svc = await command.start(command.resolve({
    agent: {
      id: "stop-cat",
      base_folder: join(dir.path, "agent"),
      heartbeat: 300,
      poll_interval: 100,
      shutdown_timeout: 100,
    },
    api: { base_url: orch.url, retry_delay: 100, retry_max_delay: 500 },
    security: { auth: { api_key: TOKEN } },
    plugins: { directory: join(dir.path, "plugins"), pool_size: 1 },
    health: { port: 0 },
    logging: { level: "error" },
  }));
  let closed = false;
  try {
    await waitFor(() => orch.pending() === 0, 30_000, "the instruction taken");
    await new Promise((r) => setTimeout(r, 300));
    await svc.close();
    closed = true;
    // Stopped: the instruction is reported failed (interrupted) if at all, never run after.
    for (const r of orch.results("held-1")) {
      assert.equal(r.body.status, "failed", JSON.stringify(r.body));
    }
  } finally {
    if (!closed) await svc.close();
    await orch.close();
    await dir.remove();
  }
});
