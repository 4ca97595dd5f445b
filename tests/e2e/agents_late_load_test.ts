/**
 * End-to-end: the action agent loads its executor with the first instruction. When that load
 * fails (the module is unreadable, as after an install replaced under a running agent), the
 * instruction is finished as failed and reported, not left running with no result.
 */
import assert from "node:assert/strict";
import { type ChildService, listeningUrl, ROOT, spawnChild, waitFor } from "../helpers.ts";
import { startOpenRelay } from "./open_relay.ts";

const AGENT = "late-a";
const TOPIC = `action.tasks.${AGENT}`;

Deno.test("action e2e: an executor that cannot be loaded fails the instruction, reported", async () => {
  const { env, client, results, config, close } = await startOpenRelay(
    "iatp-late-load-e2e-",
    AGENT,
  );
  const cfg = await config(true);
  let agent: ChildService | undefined;
  try {
    agent = spawnChild(Deno.execPath(), [
      ...["run", "--quiet", "--no-prompt", "--cached-only", "-A"],
      `--deny-read=${ROOT}core/agents/executor.ts`,
      `${ROOT}cmd/action.ts`,
      ...["--config", cfg],
    ], { env });
    const started = agent;
    let url: string | undefined;
    await waitFor(() => (url = listeningUrl(started.stdout())) !== undefined, 30_000, "listening");
    // Every component is up: the relay subscription that takes the task is connected.
    await waitFor(
      async () => {
        const res = await fetch(`${url}/health`);
        return res.status === 200 && (await res.json()).status === "ok";
      },
      30_000,
      "the agent to be healthy",
    );
    await client.publishNow(TOPIC, {
      id: "late-1",
      plugin_id: "echo-action",
      instruction_type: "execute",
      input_data: { echo: "x" },
    });
    await waitFor(() => results.length >= 1, 30_000, "the failed instruction's result")
      .catch((err) => {
        throw new Error(started.stdout().slice(-3000), { cause: err });
      });
    const r = results[0].payload;
    assert.equal(r.instruction_id, "late-1");
    assert.equal(r.status, "failed");
    assert.equal(r.error_type, "internal");
  } finally {
    await agent?.stop("SIGTERM");
    await close();
  }
});
