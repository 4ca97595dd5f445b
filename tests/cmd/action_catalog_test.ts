// The action agent makes its plugin catalog with the first instruction it runs, once: every
// later instruction runs on that same catalog and its warm plugin hosts (a catalog made per
// instruction would start a new host for each and leave every one running, never closed).
import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/action.ts";
import { writePlugin } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { tempDir, waitFor } from "../helpers.ts";

const TOKEN = "action-one-catalog-token-0123456789";

/** Counts the calls its host has served: 1, 2, 3... while the same host serves them. */
const COUNT_MOD = `
let calls = 0;
export function execute() {
  calls++;
  return { calls };
}
`;

Deno.test("action: instructions after the first run on the one catalog the first made (its warm host serves them)", async () => {
  const dir = await tempDir("iatp-action-catalog-");
  await writePlugin(join(dir.path, "plugins"), "count-action", "action", COUNT_MOD);
  const orch = await startFakeOrchestrator({ agentId: "one-cat", token: TOKEN });
  const svc = await command.start(command.resolve({
    agent: {
      id: "one-cat",
      base_folder: join(dir.path, "agent"),
      heartbeat: 300,
      poll_interval: 100,
    },
    api: { base_url: orch.url, retry_delay: 100, retry_max_delay: 500 },
    security: { auth: { api_key: TOKEN } },
    plugins: { directory: join(dir.path, "plugins"), pool_size: 1 },
    health: { port: 0 },
    logging: { level: "error" },
  }));
  try {
    const calls: unknown[] = [];
    for (const id of ["c-1", "c-2", "c-3"]) {
      orch.enqueue({
        id,
        plugin_id: "count-action",
        instruction_type: "execute",
        plugin_configuration: {},
        input_data: {},
        timeout_seconds: 30,
        max_retries: 0,
      });
      await waitFor(() => orch.results(id).length > 0, 30_000, `result of ${id}`);
      const [r] = orch.results(id);
      assert.equal(r.body.status, "completed", JSON.stringify(r.body));
      const result = r.body.result as { execution_result: { output_data: { calls: number } } };
      calls.push(result.execution_result.output_data.calls);
    }
    assert.deepEqual(calls, [1, 2, 3]);
  } finally {
    await svc.close();
    await orch.close();
    await dir.remove();
  }
});
