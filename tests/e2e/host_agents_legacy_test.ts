/**
 * Legacy mode end to end: with COMPOSE_AGENT_ENABLED=false the status agent runs Docker
 * commands itself, and needs the socket granted explicitly (IATP_ALLOW_READ/WRITE); without
 * legacy mode it never touches the socket.
 */
import assert from "node:assert/strict";
import { startIatpService, tempDir } from "../helpers.ts";
import {
  ensureBusyboxImage,
  ensureDockerd,
  removeContainers,
  runContainer,
  uniqueName,
} from "../support/dockerd.ts";
import { startFakeDashboard } from "../support/fake_dashboard.ts";

/** The test Docker daemon; tests that need it are ignored (never passed) without one. */
const dockerd = await ensureDockerd();

const KEY = "legacy-status-panel-key-00000000";

Deno.test({
  name: "legacy mode: the status agent executes Docker commands itself",
  ignore: !dockerd.available,
}, async () => {
  const d = dockerd;
  const image = await ensureBusyboxImage(d.socket);
  const dir = await tempDir();
  const name = uniqueName("iatp-legacy");
  await runContainer(d.socket, name, [
    image,
    "sh",
    "-c",
    "trap 'exit 0' TERM; while true; do sleep 1; done",
  ]);
  const dash = startFakeDashboard({ token: KEY, deploymentHash: "dep-legacy" });
  const status = await startIatpService(["status", "--port", "0", "--docker-socket", d.socket], {
    env: {
      IATP_DATA_DIR: dir.path,
      IATP_ALLOW_READ: d.socket,
      IATP_ALLOW_WRITE: d.socket,
      COMPOSE_AGENT_ENABLED: "false",
      AGENT_ID: "status-legacy",
      AGENT_TOKEN: KEY,
      DASHBOARD_URL: dash.url,
      DEPLOYMENT_HASH: "dep-legacy",
      POLLING_TIMEOUT_SECS: "1",
    },
  });
  try {
    const warning = status.stdout().split("\n").find((l) => l.includes("legacy mode"));
    assert.ok(warning, "legacy warning logged at startup");
    assert.equal(JSON.parse(warning!).msg, "compose_agent=false - running in legacy mode");
    const caps = await (await fetch(`${status.url}/capabilities`)).json();
    assert.equal(caps.compose_agent, false);
    assert.ok(caps.features.includes("docker_legacy"));

    dash.enqueue({ command_id: "l-1", type: "list_containers" });
    const list = await dash.waitForReport("l-1");
    assert.deepEqual([list.status, list.executed_by], ["success", "status_panel"]);
    assert.ok((list.result as Array<{ name: string }>).some((c) => c.name === name));
    dash.enqueue({ command_id: "l-2", type: "restart", parameters: { name, timeout_secs: 1 } });
    const restart = await dash.waitForReport("l-2");
    assert.deepEqual([restart.status, restart.executed_by], ["success", "status_panel"]);
    dash.enqueue({ command_id: "l-3", type: "stop", parameters: { name: "bad/name" } });
    const bad = await dash.waitForReport("l-3");
    assert.equal(bad.status, "failed");
    assert.match(String(bad.error), /parameters.name/);
    const h = await (await fetch(`${status.url}/health`)).json();
    assert.deepEqual([h.status_panel_count, h.compose_agent_count], [3, 0]);
  } finally {
    await status.stop();
    await dash.close();
    await removeContainers(d.socket, [name]);
    await dir.remove();
  }
});
