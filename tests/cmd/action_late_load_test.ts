// The action agent loads its plugin catalog and executor with the first instruction it runs.
// When that load fails (the module unreadable, as after an install replaced under a running
// agent), each instruction it took is finished and reported failed, once, never dropped or run.
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeConfig, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { listeningUrl, ROOT, spawnChild, tempDir, waitFor } from "../helpers.ts";

/** What the agent reports for a runner that could not be loaded (core/agents/late_run.ts). */
const LOAD_FAILED =
  "the instruction runner (executor, plugin catalog) could not be loaded; the agent's log has the reason";

const TOKEN = "action-late-load-token-0123456789";

function execute(id: string) {
  return {
    id,
    plugin_id: "echo-action",
    instruction_type: "execute",
    plugin_configuration: {},
    input_data: { echo: id },
    timeout_seconds: 30,
    max_retries: 0,
  };
}

Deno.test("action: a plugin catalog that cannot be loaded fails each taken instruction, reported once", async () => {
  const dir = await tempDir("iatp-action-late-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const orch = await startFakeOrchestrator({ agentId: "late-act", token: TOKEN });
  // Two instructions wait before the agent starts: both reach the queue while the load runs.
  orch.enqueue(execute("late-1"));
  orch.enqueue(execute("late-2"));
  const config = await writeConfig(dir.path, "action.yaml", {
    agent: {
      id: "late-act",
      base_folder: join(dir.path, "agent"),
      heartbeat: "300ms",
      poll_interval: "200ms",
    },
    api: { base_url: orch.url, retry_delay: "100ms", retry_max_delay: "500ms" },
    security: { auth: { api_key: TOKEN } },
    plugins: { directory: join(dir.path, "plugins") },
    health: { port: 0 },
    logging: { level: "info" },
  });
  const agent = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", "-A"],
    `--deny-read=${ROOT}core/agents/plugins.ts`,
    `${ROOT}cmd/action.ts`,
    ...["--config", config],
  ], { env: { IATP_DATA_DIR: dir.path } });
  try {
    await waitFor(() => listeningUrl(agent.stdout()) !== undefined, 30_000, "listening")
      .catch((err) => {
        throw new Error(agent.stdout() + agent.stderr(), { cause: err });
      });
    await waitFor(
      () => orch.results("late-1").length > 0 && orch.results("late-2").length > 0,
      30_000,
      "both results",
    ).catch((err) => {
      throw new Error(agent.stdout().slice(-3000), { cause: err });
    });
    for (const id of ["late-1", "late-2"]) {
      const [r] = orch.results(id);
      assert.equal(r.body.status, "failed", id);
      // A fixed sentence to the orchestrator, in the result and its execution log: no path of
      // this host, no runtime wording.
      assert.equal(r.body.error_message, LOAD_FAILED, id);
      assert.doesNotMatch(JSON.stringify(r.body), /file:|\/core\/|\\u001b|Requires read/, id);
      assert.equal((r.body.error_details as Record<string, unknown>).error_type, "internal");
    }
    // The reason is in the agent's own log.
    assert.match(
      agent.stdout(),
      /the instruction runner could not be loaded.*Requires read access/,
    );
    // Neither is run or reported again on later polls.
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(orch.results("late-1").length, 1);
    assert.equal(orch.results("late-2").length, 1);
    assert.deepEqual(orch.violations, []);
  } finally {
    await agent.stop("SIGTERM");
    await orch.close();
    await dir.remove();
  }
});
