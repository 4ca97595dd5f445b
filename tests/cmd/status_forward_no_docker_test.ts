// The status agent outside legacy mode forwards Docker commands to the compose-agent with the
// command wire alone (core/docker/wire): neither its start nor a forwarded command loads the Docker
// Engine client or the watchdog (core/docker). Here those are unreadable, and a dashboard command
// still reaches the compose-agent and is reported as it answered.
import assert from "node:assert/strict";
import { listeningUrl, ROOT, spawnChild, tempDir, waitFor } from "../helpers.ts";
import { startFakeDashboard } from "../support/fake_dashboard.ts";

Deno.test("status (forwarding): a dashboard command goes to the compose-agent without core/docker loaded", async () => {
  const dir = await tempDir();
  const token = "status-forward-token-0123456789";
  const hash = "dep-forward-1";
  const dashboard = startFakeDashboard({ token, deploymentHash: hash, maxHoldMs: 500 });
  const forwarded: Array<Record<string, unknown>> = [];
  const composeAgent = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const body = await req.json();
      forwarded.push(body);
      return Response.json({
        command_id: body.command_id,
        status: "success",
        result: { forwarded: true },
        error: null,
        completed_at: new Date().toISOString(),
        executed_by: "compose_agent",
      });
    },
  );
  const status = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", "--cached-only", "-A"],
    `--deny-read=${ROOT}core/docker/mod.ts,${ROOT}core/docker/engine.ts,${ROOT}core/docker/watchdog.ts`,
    `${ROOT}cmd/status.ts`,
    ...["--port", "0"],
  ], {
    env: {
      IATP_DATA_DIR: dir.path,
      AGENT_ID: "forward-agent",
      AGENT_TOKEN: token,
      DEPLOYMENT_HASH: hash,
      DASHBOARD_URL: dashboard.url,
      POLLING_TIMEOUT_SECS: "1",
      IATP_STATUS_COMPOSE_AGENT_URL: `http://127.0.0.1:${composeAgent.addr.port}`,
      IATP_STATUS_COMPOSE_AGENT_TOKEN: token,
    },
  });
  try {
    await waitFor(() => listeningUrl(status.stdout()) !== undefined, 30_000, "listening")
      .catch((err) => {
        throw new Error(status.stdout() + status.stderr(), { cause: err });
      });
    dashboard.enqueue({ command_id: "fwd-1", type: "restart", parameters: { name: "web" } });
    const report = await dashboard.waitForReport("fwd-1", 20_000).catch((err) => {
      throw new Error(status.stdout().slice(-3000) + status.stderr(), { cause: err });
    });
    assert.equal(report.status, "success", JSON.stringify(report));
    assert.equal(report.executed_by, "compose_agent");
    assert.deepEqual(report.result, { forwarded: true });
    assert.equal(forwarded.length, 1);
    assert.equal(forwarded[0].command_id, "fwd-1");
    assert.equal(forwarded[0].type, "restart");
    assert.deepEqual(forwarded[0].parameters, { name: "web" });
  } finally {
    await status.stop("SIGTERM");
    await composeAgent.shutdown();
    await dashboard.close();
    await dir.remove();
  }
});
