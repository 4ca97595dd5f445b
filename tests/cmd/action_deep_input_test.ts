/**
 * An orchestrator's instruction whose input nests deeper than the agent takes is refused as an
 * invalid request, never handed to a plugin host (whose structured clone overflowed its stack a
 * few thousand levels down: the host died, and the result carried its stack trace).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/action.ts";
import { writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { tempDir, waitFor } from "../helpers.ts";

/** The deepest nesting an instruction may have (docs/agents.md). */
const MAX_INSTRUCTION_DEPTH = 64;

/** An object nesting arrays `levels` deep, itself level 1. */
function nested(levels: number): Record<string, unknown> {
  let v: unknown = [];
  for (let i = 2; i < levels; i++) v = [v];
  return { x: v };
}

Deno.test("action: an instruction nested deeper than the bound is an invalid request, and no plugin host dies of it", async () => {
  const dir = await tempDir();
  await writeFixturePlugins(join(dir.path, "plugins"));
  const orch = await startFakeOrchestrator({ agentId: "deep", token: "deep-token-00001" });
  orch.setNextPollInterval(null);
  const echo = { instruction_type: "execute", plugin_id: "echo-action" };
  orch.enqueue({ ...echo, id: "deep-input", input_data: nested(5_000) });
  orch.enqueue({ ...echo, id: "deep-config", plugin_configuration: nested(5_000) });
  orch.enqueue({ ...echo, id: "at-bound", input_data: nested(MAX_INSTRUCTION_DEPTH) });
  const config = command.resolve({
    agent: { id: "deep", base_folder: join(dir.path, "base"), poll_interval: 100 },
    api: { base_url: orch.url },
    plugins: { directory: join(dir.path, "plugins") },
    security: { auth: { api_key: "deep-token-00001" } },
    health: { port: 0 },
    logging: { level: "error" },
  });
  const svc = await command.start(config);
  try {
    const ids = ["deep-input", "deep-config", "at-bound"];
    await waitFor(() => ids.every((id) => orch.results(id).length > 0), 30_000, "three results");
    for (
      const [id, field] of [["deep-input", "input_data"], ["deep-config", "plugin_configuration"]]
    ) {
      const body = orch.results(id)[0].body;
      assert.equal(body.status, "failed", id);
      assert.deepEqual(body.error_details, { error_type: "invalid_request" }, id);
      assert.equal(
        body.error_message,
        `invalid instruction: ${field}: nested deeper than ${MAX_INSTRUCTION_DEPTH} levels`,
      );
      assert.doesNotMatch(JSON.stringify(body), /\bat .+:\d+:\d+/, `${id}: no stack trace`);
    }
    // The deepest input taken reaches the plugin and runs.
    assert.equal(orch.results("at-bound")[0].body.status, "completed");
    assert.deepEqual(orch.violations, []);
  } finally {
    await svc.close();
    await orch.close();
    await dir.remove();
  }
});
