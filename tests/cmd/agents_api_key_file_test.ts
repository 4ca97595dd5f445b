/**
 * `security.auth.api_key` takes `file:PATH` as every credential setting does: the agent sends the
 * file's content, not the reference, and a file it cannot read stops the start naming the setting.
 */
import assert from "node:assert/strict";
import { runIatp, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";

const TOKEN = "orchestrator-key-from-a-file";

Deno.test("iatp action: security.auth.api_key file:PATH sends the file's content as the bearer token", async () => {
  const dir = await tempDir();
  const orch = await startFakeOrchestrator({ agentId: "a-key-file", token: TOKEN });
  const keyFile = `${dir.path}/orchestrator key.txt`;
  await Deno.writeTextFile(keyFile, `${TOKEN}\n`);
  const env = {
    IATP_DATA_DIR: dir.path,
    IATP_ACTION_AGENT_ID: "a-key-file",
    IATP_ACTION_API_BASE_URL: orch.url,
    IATP_ACTION_AGENT_POLL_INTERVAL: "200ms",
    IATP_ACTION_HEALTH_PORT: "0",
    IATP_ACTION_METRICS_PORT: "0",
    IATP_ACTION_SECURITY_AUTH_API_KEY: `file:${keyFile}`,
  };
  try {
    const agent = await startIatpService(["action"], { env });
    try {
      await waitFor(() => orch.heartbeats().length > 0, 20_000, "a heartbeat");
      for (const r of orch.requests) {
        assert.equal(r.headers["authorization"], `Bearer ${TOKEN}`, `${r.method} ${r.path}`);
      }
    } finally {
      await agent.stop();
    }
    const missing = await runIatp(["config", "check", "action", "/dev/null"], {
      env: { ...env, IATP_ACTION_SECURITY_AUTH_API_KEY: `file:${dir.path}/none.txt` },
    });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(
      missing.stderr,
      /security\.auth\.api_key \(env IATP_ACTION_SECURITY_AUTH_API_KEY\): expected a readable file/,
    );
  } finally {
    await orch.close();
    await dir.remove();
  }
});
