// The status agent loads its command parser with the first dashboard command. When that load
// fails (the module unreadable, as after an install replaced under a running agent), the command
// it took from the dashboard is reported failed, not dropped.
import assert from "node:assert/strict";
import { listeningUrl, ROOT, spawnChild, tempDir, waitFor } from "../helpers.ts";
import { startFakeDashboard } from "../support/fake_dashboard.ts";

Deno.test("status: a command parser that cannot be loaded fails the taken command, reported", async () => {
  const dir = await tempDir();
  const token = "status-late-load-token-0123456789";
  const hash = "dep-late-1";
  const dashboard = startFakeDashboard({ token, deploymentHash: hash, maxHoldMs: 500 });
  const status = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", "--cached-only", "-A"],
    `--deny-read=${ROOT}core/docker/executor/mod.ts`,
    `${ROOT}cmd/status.ts`,
    ...["--port", "0"],
  ], {
    env: {
      IATP_DATA_DIR: dir.path,
      AGENT_ID: "late-agent",
      AGENT_TOKEN: token,
      DEPLOYMENT_HASH: hash,
      DASHBOARD_URL: dashboard.url,
      POLLING_TIMEOUT_SECS: "1",
      IATP_STATUS_COMPOSE_AGENT_URL: "http://127.0.0.1:9",
      IATP_STATUS_COMPOSE_AGENT_TOKEN: token,
    },
  });
  try {
    await waitFor(() => listeningUrl(status.stdout()) !== undefined, 30_000, "listening")
      .catch((err) => {
        throw new Error(status.stdout() + status.stderr(), { cause: err });
      });
    dashboard.enqueue({ command_id: "late-1", type: "health", parameters: {} });
    const report = await dashboard.waitForReport("late-1", 20_000).catch((err) => {
      throw new Error(status.stdout().slice(-3000), { cause: err });
    });
    assert.equal(report.status, "failed");
    assert.match(String(report.error), /could not be loaded/);
  } finally {
    await status.stop("SIGTERM");
    await dashboard.close();
    await dir.remove();
  }
});
