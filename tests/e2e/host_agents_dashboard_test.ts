/**
 * End to end: a fake dashboard (long-poll wire format) -> `iatp status` -> signed HTTP ->
 * `iatp compose-agent` -> a real dockerd, with watchdog events on a real relay. Every agent
 * runs as a child process through scripts/iatp with its permission-table flags; only the
 * compose-agent is granted the socket.
 */
import assert from "node:assert/strict";
import { command as relayCommand } from "../../cmd/relay.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { type ChildService, startIatpService, tempDir, waitFor } from "../helpers.ts";
import {
  dockerCli,
  ensureBusyboxImage,
  ensureDockerd,
  removeContainers,
  runContainer,
  uniqueName,
} from "../support/dockerd.ts";
import { startFakeDashboard } from "../support/fake_dashboard.ts";

/** The test Docker daemon; tests that need it are ignored (never passed) without one. */
const dockerd = await ensureDockerd();

const COMPOSE_KEY = "e2e-compose-agent-key-000000000";
const PANEL_KEY = "e2e-status-panel-key-0000000000";
const PANEL_DASHBOARD_CRED = "e2e-status-dashboard-credential-0";

Deno.test({
  name: "dashboard -> status -> compose-agent -> dockerd, with watchdog events on the relay",
  ignore: !dockerd.available,
}, async (t) => {
  const d = dockerd;
  const image = await ensureBusyboxImage(d.socket);
  const dir = await tempDir();
  const web = uniqueName("iatp-e2e-web");
  await runContainer(d.socket, web, [
    image,
    "sh",
    "-c",
    "echo web up; trap 'exit 0' TERM; while true; do sleep 1; done",
  ]);
  const relay = await relayCommand.start(relayCommand.resolve({ port: 0, workers: 1 }), {
    log: silentLogger,
  });
  const relayClient = new RelayClient({ url: relay.url, log: silentLogger });
  const events: RelayEvent[] = [];
  const sub = relayClient.subscribe(["status.watchdog"], (e) => void events.push(e));
  const dash = startFakeDashboard({
    token: PANEL_KEY,
    bearer: PANEL_DASHBOARD_CRED,
    deploymentHash: "dep-e2e",
  });
  const started: ChildService[] = [];
  try {
    const composeAgent = await startIatpService([
      "compose-agent",
      "--port",
      "0",
      "--docker-socket",
      d.socket,
      "--watchdog-containers",
      web,
      "--watchdog-check-interval",
      "300ms",
      "--watchdog-backoff-base",
      "200ms",
      "--watchdog-stable-after",
      "500ms",
      "--watchdog-start-period",
      "0ms",
    ], {
      env: {
        IATP_DATA_DIR: `${dir.path}/compose`,
        IATP_ALLOW_READ: d.socket,
        IATP_ALLOW_WRITE: d.socket,
        IATP_COMPOSE_AGENT_AGENT_ID: "compose-e2e",
        IATP_COMPOSE_AGENT_AGENT_TOKEN: COMPOSE_KEY,
        AGENT_SCOPES: "docker:*,compose:*",
        IATP_COMPOSE_AGENT_DEPLOYMENT_HASH: "dep-e2e",
        IATP_COMPOSE_AGENT_ALLOWED_AGENTS: "status-e2e",
        IATP_COMPOSE_AGENT_RELAY_URL: relay.url,
      },
    });
    started.push(composeAgent);
    const status = await startIatpService(["status", "--port", "0"], {
      env: {
        IATP_DATA_DIR: `${dir.path}/status`,
        AGENT_ID: "status-e2e",
        AGENT_TOKEN: PANEL_KEY,
        IATP_STATUS_DASHBOARD_TOKEN: PANEL_DASHBOARD_CRED,
        DASHBOARD_URL: dash.url,
        DEPLOYMENT_HASH: "dep-e2e",
        POLLING_TIMEOUT_SECS: "1",
        POLLING_BACKOFF_SECS: "0.2",
        IATP_STATUS_COMPOSE_AGENT_URL: composeAgent.url,
        IATP_STATUS_COMPOSE_AGENT_TOKEN: COMPOSE_KEY,
      },
    });
    started.push(status);
    let n = 0;
    const command = async (type: string, parameters: Record<string, unknown> = {}) => {
      const id = `e2e-${++n}`;
      dash.enqueue({ command_id: id, type, parameters });
      return await dash.waitForReport(id);
    };

    await t.step("list_containers runs on the compose-agent", async () => {
      const r = await command("list_containers");
      assert.deepEqual([r.status, r.executed_by, r.deployment_hash], [
        "success",
        "compose_agent",
        "dep-e2e",
      ]);
      const row = (r.result as Array<{ name: string; state: string }>).find((c) => c.name === web);
      assert.equal(row?.state, "running");
    });
    await t.step("logs", async () => {
      const r = await command("logs", { name: web, tail: 5 });
      const lines = (r.result as { lines: Array<{ message: string }> }).lines;
      assert.deepEqual(lines.map((l) => l.message), ["web up"]);
    });
    await t.step("restart", async () => {
      const r = await command("restart", { name: web, timeout_secs: 1 });
      assert.deepEqual([r.status, (r.result as { running: boolean }).running], ["success", true]);
    });
    await t.step("stop is respected by the watchdog; start brings it back", async () => {
      const r = await command("stop", { name: web, timeout_secs: 1 });
      assert.equal((r.result as { state: string }).state, "exited");
      const before = events.length;
      // Three watchdog passes after the stop: each would have restarted it, were it watched.
      const passes = await watchdogPasses(composeAgent.url);
      await waitFor(
        async () => await watchdogPasses(composeAgent.url) >= passes + 3,
        30_000,
        "three watchdog passes",
      );
      const state = await dockerCli(d.socket, ["inspect", "-f", "{{.State.Status}}", web]);
      assert.equal(state.stdout.trim(), "exited");
      assert.equal(events.length, before, "no watchdog action on an intentional stop");
      assert.equal(
        ((await command("start", { name: web })).result as { running: boolean }).running,
        true,
      );
    });
    await t.step("a bad name is refused by the compose-agent and reported failed", async () => {
      const r = await command("restart", { name: "../../etc" });
      assert.equal(r.status, "failed");
      assert.match(String(r.error), /compose-agent refused: invalid parameters.name/);
    });
    await t.step(
      "kill -9 of a watched container: the watchdog restarts it and tells the relay",
      async () => {
        const pid = Number(
          (await dockerCli(d.socket, ["inspect", "-f", "{{.State.Pid}}", web])).stdout,
        );
        assert.ok(pid > 0);
        Deno.kill(pid, "SIGKILL");
        await waitFor(
          () => events.some((e) => e.payload.action === "recovered"),
          60_000,
          "recovered",
        );
        const actions = events.map((e) => `${e.payload.action}:${e.payload.container}`);
        assert.deepEqual(actions.slice(0, 3), [
          `scheduled:${web}`,
          `restarted:${web}`,
          `recovered:${web}`,
        ]);
        assert.equal(events[0].payload.agent_id, "compose-e2e");
        assert.equal(events[0].payload.exit_code, 137);
      },
    );
    await t.step("status /health counts the compose-agent as control plane", async () => {
      const h = await (await fetch(`${status.url}/health`)).json();
      assert.equal(h.compose_agent_count, n);
      assert.equal(h.last_control_plane, "compose_agent");
      const prom = await (await fetch(`${composeAgent.url}/metrics`)).text();
      assert.match(prom, /iatp_watchdog_actions_total\{[^}]*action="restarted"/);
    });
    assert.doesNotMatch(status.stdout(), /legacy mode/);
    assert.deepEqual([...dash.authorizations], [`Bearer ${PANEL_DASHBOARD_CRED}`]);
  } finally {
    for (const s of started.reverse()) await s.stop();
    sub.close();
    await relayClient.close();
    await relay.close();
    await dash.close();
    await removeContainers(d.socket, [web]);
    await dir.remove();
  }
});

/** The compose-agent's count of watchdog passes, from its /metrics. */
async function watchdogPasses(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^iatp_watchdog_passes_total(?:\{[^}]*\})? (\d+)$/m.exec(text)?.[1] ?? NaN);
}
