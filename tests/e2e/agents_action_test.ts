/**
 * End-to-end: `iatp action` as a real child process (launcher permissions) against the fake
 * orchestrator over real sockets, running real sandboxed plugins.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { verifyAuditLines } from "../../core/agents/mod.ts";
import {
  auditLines,
  health,
  metric,
  writeConfig,
  writeFixturePlugins,
} from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";

const TOKEN = "e2e-orchestrator-token";

function actionYaml(data: string, orchUrl: string, agent: Record<string, unknown> = {}, api = {}) {
  return {
    agent: {
      id: "act-e2e",
      base_folder: join(data, "agent"),
      heartbeat: "300ms",
      poll_interval: "30s",
      ...agent,
    },
    api: { base_url: orchUrl, retry_delay: "100ms", retry_max_delay: "500ms", ...api },
    security: { auth: { api_key: TOKEN } },
    plugins: { directory: join(data, "plugins") },
    health: { port: 0 },
    logging: { level: "info" },
  };
}

async function setup() {
  const dir = await tempDir("iatp-action-e2e-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const orch = await startFakeOrchestrator({
    agentId: "act-e2e",
    token: TOKEN,
    nextPollInterval: 1,
  });
  return { dir, orch, env: { IATP_DATA_DIR: dir.path } };
}

function execute(id: string, input: Record<string, unknown>, timeout_seconds = 30) {
  return {
    id,
    plugin_id: "echo-action",
    instruction_type: "execute",
    plugin_configuration: { token: "plugin-secret-value-77" },
    input_data: input,
    timeout_seconds,
    max_retries: 0,
    correlation_id: `corr-${id}`,
  };
}

Deno.test("action e2e: polling, concurrency, heartbeats during long plugins, timeout kill, offline on stop", async () => {
  const { dir, orch, env } = await setup();
  const config = await writeConfig(
    dir.path,
    "action.yaml",
    actionYaml(dir.path, orch.url, { max_concurrent_tasks: 2 }),
  );
  orch.enqueue(execute("long-1", { sleep_ms: 4_000, echo: "one" }));
  orch.enqueue(execute("long-2", { sleep_ms: 4_000, echo: "two" }));
  orch.enqueue(execute("spin-1", { spin: true }, 2));
  const agent = await startIatpService(["action", "--config", config], { env });
  try {
    await waitFor(() => orch.results().length === 3, 60_000, "three results");
    const [r1, r2, r3] = ["long-1", "long-2", "spin-1"].map((id) => orch.results(id)[0]);
    assert.equal(r1.body.status, "completed");
    assert.deepEqual((r1.body.result as { output: unknown }).output, {
      echo: "one",
      token: "plugin-secret-value-77",
    });
    // The Stavily agents' completed result (01-Agents action-agent/internal/agent/agent.go):
    // the plugin's map at execution_result.output_data, durations in seconds.
    const up = r1.body.result as Record<string, unknown> & {
      execution_result: Record<string, unknown>;
    };
    assert.deepEqual([up.instruction_id, up.success, typeof up.duration], [
      "long-1",
      true,
      "number",
    ]);
    assert.ok(!Number.isNaN(Date.parse(String(up.start_time))) && Array.isArray(up.logs));
    assert.deepEqual(up.execution_result.output_data, {
      echo: "one",
      token: "plugin-secret-value-77",
    });
    assert.equal(up.execution_result.exit_code, 0);
    assert.match(String((r3.body.error_details as { timestamp: string }).timestamp), /Z$/);
    assert.equal(r2.body.status, "completed");
    // Concurrency: both long plugins were executing before either finished.
    const exec2 = orch.statusUpdates("long-2")[0].at;
    assert.ok(exec2 < Math.min(r1.at, r2.at), "long-2 started before long-1 finished");
    // Heartbeats kept flowing while both workers were busy.
    const start = orch.statusUpdates("long-1")[0].at;
    const during = orch.heartbeats().filter((h) => h.at > start && h.at < Math.min(r1.at, r2.at));
    assert.ok(during.length >= 2, `heartbeats during the long plugins: ${during.length}`);
    // The spinning plugin was killed at its timeout and reported failed with its type.
    assert.equal(r3.body.status, "failed");
    assert.equal((r3.body.error_details as { error_type: string }).error_type, "timeout");
    const log = r3.body.execution_log as string[];
    assert.ok(log.some((l) => /timeout/.test(l)));
    assert.ok(log.every((l) => /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] /.test(l)));
    // next_poll_interval (1 s) drives polling, not poll_interval (30 s).
    await waitFor(() => orch.polls().length >= 6, 30_000, "polls at next_poll_interval");
    const h = await health(agent.url);
    const components = h.components as Record<string, Record<string, unknown>>;
    assert.equal(components.orchestrator.ok, true);
    assert.equal(components.queue.max_concurrent_tasks, 2);
    assert.equal(
      await metric(agent.url, "iatp_agent_executions_total", { result: "completed" }),
      2,
    );
    assert.equal(
      await metric(agent.url, "iatp_agent_executions_total", { error_type: "timeout" }),
      1,
    );
    assert.deepEqual(orch.violations, []);
  } finally {
    const status = await agent.stop("SIGTERM");
    assert.equal(status.code, 0, agent.stderr());
    await orch.close();
  }
  try {
    assert.equal(orch.heartbeats().at(-1)?.status, "offline");
    const lines = await auditLines(join(dir.path, "agent"));
    const text = await Deno.readTextFile(join(dir.path, "agent/logs/audit/audit.jsonl"));
    assert.equal((verifyAuditLines(text)).ok, true);
    assert.ok(lines.filter((l) => l.event === "instruction.received").length === 3);
    assert.ok(lines.filter((l) => l.event === "instruction.executed").length === 3);
    assert.doesNotMatch(
      text + agent.stdout() + agent.stderr(),
      /plugin-secret-value-77|e2e-orchestrator-token/,
    );
    const st = await Deno.stat(join(dir.path, "agent/data/state"));
    assert.equal(st.mode! & 0o777, 0o700);
  } finally {
    await dir.remove();
  }
});

Deno.test("action e2e: retries after orchestrator 500s, and the rate limit bounds request rate", async () => {
  const { dir, orch, env } = await setup();
  orch.setNextPollInterval(0);
  orch.failNext("poll", 3, 500);
  orch.enqueue(execute("after-500s", { echo: "ok" }));
  const config = await writeConfig(
    dir.path,
    "action.yaml",
    actionYaml(dir.path, orch.url, { poll_interval: "50ms", heartbeat: "10s" }, {
      retry_attempts: 3,
      rate_limit_rps: 4,
      rate_limit_burst: 1,
    }),
  );
  const agent = await startIatpService(["action", "--config", config], { env });
  try {
    await waitFor(() => orch.results("after-500s").length === 1, 30_000, "result after 500s");
    const failed = orch.requests.filter((r) =>
      r.path.endsWith("/instructions") && r.status === 500
    );
    assert.equal(failed.length, 3);
    assert.equal(orch.results("after-500s")[0].body.status, "completed");
    // poll_interval is 50 ms, but 4 requests/s with a burst of 1 is all the bucket allows:
    // nine more requests cannot take less than eight intervals of 250 ms, however busy the
    // machine (slowness only lengthens the wait), while unthrottled they take ~0.4 s.
    const t0 = performance.now();
    const n0 = orch.requests.length;
    await waitFor(() => orch.requests.length >= n0 + 9, 30_000, "nine more requests");
    const seconds = (performance.now() - t0) / 1000;
    assert.ok(
      seconds >= 1.9,
      `nine requests in ${seconds.toFixed(2)} s: the rate limit let more through`,
    );
  } finally {
    await agent.stop("SIGTERM");
    await orch.close();
    await dir.remove();
  }
});

Deno.test("action e2e: crash mid-run is reported failed on restart; finished ids are not re-run", async () => {
  const { dir, orch, env } = await setup();
  const config = await writeConfig(dir.path, "action.yaml", actionYaml(dir.path, orch.url));
  orch.enqueue(execute("done-1", { echo: "first" }));
  orch.enqueue(execute("crash-1", { sleep_ms: 60_000 }));
  let agent = await startIatpService(["action", "--config", config], { env });
  try {
    await waitFor(() => orch.results("done-1").length === 1, 30_000, "done-1 result");
    await waitFor(() => orch.statusUpdates("crash-1").length === 1, 30_000, "crash-1 executing");
    await agent.stop("SIGKILL");
    assert.equal(orch.results("crash-1").length, 0);
    // The orchestrator redelivers both (at-least-once) after the agent comes back.
    orch.enqueue(execute("done-1", { echo: "first" }));
    orch.enqueue(execute("crash-1", { sleep_ms: 60_000 }));
    agent = await startIatpService(["action", "--config", config], { env });
    await waitFor(
      () => orch.results("crash-1").length >= 1 && orch.results("done-1").length >= 2,
      30_000,
      "reports",
    );
    await waitFor(() => orch.pending() === 0, 30_000, "redeliveries polled");
    const crash = orch.results("crash-1")[0].body;
    assert.equal(crash.status, "failed");
    assert.match(String(crash.error_message), /interrupted/);
    assert.equal((crash.error_details as { error_type: string }).error_type, "interrupted");
    // Neither instruction ran again: one executing report each, the stored result re-sent.
    assert.equal(orch.statusUpdates("done-1").length, 1);
    assert.equal(orch.statusUpdates("crash-1").length, 1);
    const again = orch.results("done-1").map((r) => r.body.status);
    assert.deepEqual([...new Set(again)], ["completed"]);
    assert.deepEqual(orch.violations, []);
  } finally {
    await agent.stop("SIGTERM");
    await orch.close();
    await dir.remove();
  }
});
