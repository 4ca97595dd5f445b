// A stop waits for a last delivery of results the orchestrator has not acknowledged for
// `agent.report_flush_timeout`, no longer; a result not delivered then stays in the agent's state
// and is delivered after the next start (nothing acknowledged is lost, nothing is waited on
// past the setting).
import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/action.ts";
import { writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { tempDir, waitFor } from "../helpers.ts";

const TOKEN = "action-report-flush-token-0123456789";
/** How long the orchestrator holds the first result: more than the stop may wait. */
const HOLD_MS = 4_000;
/** The test's bound on the stop: under HOLD_MS, far above the setting. */
const STOP_WITHIN_MS = 3_000;

function config(dir: string, url: string) {
  return command.resolve({
    agent: {
      id: "flush-1",
      base_folder: join(dir, "agent"),
      heartbeat: 300,
      poll_interval: 100,
      shutdown_timeout: 100,
      report_flush_timeout: 200,
    },
    api: { base_url: url, retry_delay: 100, retry_max_delay: 500 },
    security: { auth: { api_key: TOKEN } },
    plugins: { directory: join(dir, "plugins"), pool_size: 1 },
    health: { port: 0 },
    logging: { level: "error" },
  });
}

Deno.test("action: a stop waits report_flush_timeout for an unacknowledged result, which the next start delivers", async () => {
  const dir = await tempDir("iatp-action-flush-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const orch = await startFakeOrchestrator({ agentId: "flush-1", token: TOKEN });
  orch.enqueue({
    id: "flush-i1",
    plugin_id: "echo-action",
    instruction_type: "execute",
    plugin_configuration: {},
    input_data: { echo: "done" },
    timeout_seconds: 30,
    max_retries: 0,
  });
  orch.holdNext("result", HOLD_MS);
  let svc = await command.start(config(dir.path, orch.url));
  let open = true;
  try {
    await waitFor(() => orch.holding("result") === 1, 30_000, "the result sent and held");
    const t0 = performance.now();
    await svc.close();
    open = false;
    const took = performance.now() - t0;
    assert.ok(took < STOP_WITHIN_MS, `stop took ${Math.round(took)} ms`);

    svc = await command.start(config(dir.path, orch.url));
    open = true;
    await waitFor(
      () => orch.results("flush-i1").some((r) => r.body.status === "completed"),
      30_000,
      "the result delivered after the restart",
    );
  } finally {
    if (open) await svc.close();
    await orch.close();
    await dir.remove();
  }
});
