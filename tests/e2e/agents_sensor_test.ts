/**
 * End-to-end: `iatp sensor` processes with the real relay and the fake orchestrator: events go
 * to `sensor.<type>` and the orchestrator, de-duplicated across restarts and across two sensors
 * sharing a state folder, whose audit trail stays one chain; a crashing trigger is restarted
 * with backoff and reported unhealthy.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { health, metric, writeConfig, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { type ChildService, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { verifyAuditLines } from "../../core/agents/mod.ts";

const TOKEN = "sensor-e2e-token";

type Trigger = { plugin_id: string; interval: string; config: Record<string, unknown> };

function sensorYaml(data: string, id: string, relay: string, orch: string, triggers: Trigger[]) {
  return {
    agent: { id, base_folder: join(data, "sensor-state"), heartbeat: "1s" },
    api: { base_url: orch },
    security: { auth: { api_key: TOKEN } },
    plugins: { directory: join(data, "plugins") },
    health: { port: 0 },
    relay: { url: relay },
    sensor: { triggers, publish_to: "both", dedup_window: "1h" },
  };
}

async function runs(agent: ChildService & { url: string }): Promise<number> {
  const h = await health(agent.url);
  const triggers = (h.components as Record<string, { triggers: Record<string, { runs: number }> }>)
    .plugins.triggers;
  return Math.min(...Object.values(triggers).map((t) => t.runs));
}

Deno.test("sensor e2e: events reach relay and orchestrator once per window, across restarts and two sensors", async () => {
  const dir = await tempDir("iatp-sensor-e2e-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const env = { IATP_DATA_DIR: dir.path };
  const relay = await startIatpService(["relay", "--port", "0"], { env });
  const orch = await startFakeOrchestrator({ agentId: "sensor-a", token: TOKEN });
  const client = new RelayClient({ url: relay.url });
  const events: RelayEvent[] = [];
  const sub = client.subscribe(["sensor.*"], (e) => {
    events.push(e);
  }, { since: "0" });
  const trig = (
    source: string,
  ) => [{ plugin_id: "fixed-trigger", interval: "200ms", config: { source } }];
  const started: Array<ChildService & { url: string }> = [];
  const start = async (name: string, source: string) => {
    const cfg = await writeConfig(
      dir.path,
      name,
      sensorYaml(dir.path, "sensor-a", relay.url, orch.url, trig(source)),
    );
    const s = await startIatpService(["sensor", "--config", cfg], { env });
    started.push(s);
    return s;
  };
  try {
    let sensor = await start("s1.yaml", "host-1");
    await waitFor(() => events.length === 1 && orch.events().length === 1, 30_000, "first event");
    await waitFor(async () => await runs(sensor) >= 5, 30_000, "five runs");
    const e = events[0];
    assert.equal(e.topic, "sensor.test.alert");
    assert.equal(e.payload.agent_id, "sensor-a");
    assert.equal(e.payload.source, "host-1");
    assert.equal(e.payload.severity, "high");
    assert.equal(orch.events()[0].type, "test.alert");
    // Stavily's ReportTriggerRequest shape (the fake records any deviation as a violation).
    assert.deepEqual(orch.violations, []);
    assert.equal(orch.events()[0].agent_id, "sensor-a");
    assert.equal(
      await metric(sensor.url, "iatp_agent_triggers_total", { result: "deduplicated" }) >= 3,
      true,
    );
    await sensor.stop("SIGTERM");
    // A restart and a second sensor on the same state folder: still one event for host-1.
    sensor = await start("s2.yaml", "host-1");
    const twin = await start("s3.yaml", "host-1");
    await waitFor(
      async () => await runs(sensor) >= 3 && await runs(twin) >= 3,
      30_000,
      "runs after restart",
    );
    assert.equal(events.filter((x) => x.payload.source === "host-1").length, 1);
    assert.equal(orch.events().length, 1);
    await twin.stop("SIGTERM");
    // A different source is a different key.
    const other = await start("s4.yaml", "host-2");
    await waitFor(() => events.some((x) => x.payload.source === "host-2"), 30_000, "host-2 event");
    assert.equal(orch.events().length, 2);
    assert.deepEqual(orch.violations, []);
    await other.stop("SIGTERM");
    await sensor.stop("SIGTERM");
    assert.equal(orch.heartbeats().at(-1)?.status, "offline");
  } finally {
    sub.close();
    await client.close();
    await Promise.all(started.map((s) => s.stop("SIGKILL")));
    await relay.stop("SIGTERM");
    await orch.close();
    await dir.remove();
  }
});

Deno.test("sensor e2e: two sensors sharing a state folder append to one audit trail that verifies", async () => {
  const dir = await tempDir("iatp-sensor-audit-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const env = { IATP_DATA_DIR: dir.path };
  const relay = await startIatpService(["relay", "--port", "0"], { env });
  const trail = join(dir.path, "sensor-state", "logs", "audit", "audit.jsonl");
  const started: Array<ChildService & { url: string }> = [];
  const perAgent = async () => {
    const counts = new Map<string, number>();
    const text = await Deno.readTextFile(trail).catch(() => "");
    for (const line of text.split("\n").filter(Boolean)) {
      try {
        const id = JSON.parse(line).agent_id;
        counts.set(id, (counts.get(id) ?? 0) + 1);
      } catch { /* a line being written */ }
    }
    return counts;
  };
  try {
    for (const id of ["sensor-x", "sensor-y"]) {
      // No de-duplication: every run emits an event and appends a record.
      const yaml = sensorYaml(dir.path, id, relay.url, "", [
        { plugin_id: "fixed-trigger", interval: "50ms", config: { source: id } },
      ]);
      yaml.sensor = { ...yaml.sensor, publish_to: "relay", dedup_window: "0s" };
      const cfg = await writeConfig(dir.path, `${id}.yaml`, { ...yaml, api: {}, security: {} });
      started.push(await startIatpService(["sensor", "--config", cfg], { env }));
    }
    await waitFor(
      async () => {
        const c = await perAgent();
        return (c.get("sensor-x") ?? 0) >= 40 && (c.get("sensor-y") ?? 0) >= 40;
      },
      60_000,
      "40 records of each sensor",
    );
    for (const s of started) assert.equal((await s.stop("SIGTERM")).code, 0);
    const text = await Deno.readTextFile(trail);
    const v = verifyAuditLines(text);
    assert.equal(v.ok, true, JSON.stringify(v.error));
    const seqs = text.split("\n").filter(Boolean).map((l) => JSON.parse(l).seq);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
  } finally {
    await Promise.all(started.map((s) => s.stop("SIGKILL")));
    await relay.stop("SIGTERM");
    await dir.remove();
  }
});

Deno.test("sensor e2e: a crashing trigger restarts with backoff, is unhealthy, and the agent keeps running", async () => {
  const dir = await tempDir("iatp-sensor-crash-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const env = { IATP_DATA_DIR: dir.path };
  const relay = await startIatpService(["relay", "--port", "0"], { env });
  const orch = await startFakeOrchestrator({ agentId: "sensor-b", token: TOKEN });
  const client = new RelayClient({ url: relay.url });
  const events: RelayEvent[] = [];
  const sub = client.subscribe(["sensor.*"], (e) => {
    events.push(e);
  }, { since: "0" });
  const cfg = await writeConfig(
    dir.path,
    "s.yaml",
    sensorYaml(dir.path, "sensor-b", relay.url, orch.url, [
      {
        plugin_id: "fixed-trigger",
        interval: "100ms",
        config: { crash: true, type: "crash.never" },
      },
      {
        plugin_id: "fixed-trigger",
        interval: "200ms",
        config: { type: "still.alive", source: "ok" },
      },
    ]),
  );
  const sensor = await startIatpService(["sensor", "--config", cfg], { env });
  try {
    await waitFor(
      async () => {
        const h = await health(sensor.url);
        const t =
          (h.components as Record<string, { triggers: Record<string, { restarts: number }> }>)
            .plugins
            .triggers;
        return t["fixed-trigger#0"].restarts >= 4;
      },
      60_000,
      "four restarts",
    );
    const h = await health(sensor.url);
    assert.equal(h.status, "degraded");
    const plugins = (h.components as Record<string, Record<string, unknown>>).plugins;
    assert.equal(plugins.ok, false);
    const t = plugins.triggers as Record<
      string,
      { ok: boolean; last_error: string; next_delay_ms: number; consecutive_failures: number }
    >;
    assert.equal(t["fixed-trigger#0"].ok, false);
    assert.match(t["fixed-trigger#0"].last_error, /crashed on purpose/);
    assert.equal(t["fixed-trigger#1"].ok, true);
    // Backoff: once 4 failures are counted, the delay stored is at least the 3rd one's, which is
    // >= 1 s (500 ms x 2^2, half jittered), not the 100 ms interval; the healthy trigger keeps
    // its 200 ms interval.
    assert.ok(t["fixed-trigger#0"].consecutive_failures >= 3);
    assert.ok(
      t["fixed-trigger#0"].next_delay_ms >= 1_000,
      `delay ${t["fixed-trigger#0"].next_delay_ms}`,
    );
    assert.equal(t["fixed-trigger#1"].next_delay_ms, 200);
    await waitFor(
      () => events.some((e) => e.topic === "sensor.still.alive"),
      30_000,
      "healthy trigger event",
    );
    assert.ok(!events.some((e) => e.topic === "sensor.crash.never"));
    assert.ok(
      await metric(sensor.url, "iatp_agent_plugin_restarts_total", { plugin: "fixed-trigger" }) >=
        3,
    );
  } finally {
    sub.close();
    await client.close();
    const status = await sensor.stop("SIGTERM");
    assert.equal(status.code, 0);
    await relay.stop("SIGTERM");
    await orch.close();
    await dir.remove();
  }
});

Deno.test("sensor e2e: the built-in cpu-monitor runs sandboxed and publishes sensor.cpu.high", async () => {
  const dir = await tempDir("iatp-sensor-cpu-");
  const env = { IATP_DATA_DIR: dir.path };
  const relay = await startIatpService(["relay", "--port", "0"], { env });
  const client = new RelayClient({ url: relay.url });
  const events: RelayEvent[] = [];
  const sub = client.subscribe(["sensor.*"], (e) => {
    events.push(e);
  }, { since: "0" });
  const cfg = await writeConfig(dir.path, "cpu.yaml", {
    agent: { id: "sensor-cpu", base_folder: join(dir.path, "state") },
    health: { port: 0 },
    relay: { url: relay.url },
    sensor: {
      triggers: [{ plugin_id: "cpu-monitor", interval: "500ms", config: { threshold: 0 } }],
    },
  });
  const sensor = await startIatpService(["sensor", "--config", cfg], { env });
  try {
    await waitFor(() => events.length >= 1, 30_000, "cpu.high event");
    const e = events[0];
    assert.equal(e.topic, "sensor.cpu.high");
    assert.equal(e.payload.agent_id, "sensor-cpu");
    assert.equal(e.payload.plugin_id, "cpu-monitor");
    assert.equal(typeof (e.payload.data as { cpu_usage: unknown }).cpu_usage, "number");
  } finally {
    sub.close();
    await client.close();
    await sensor.stop("SIGTERM");
    await relay.stop("SIGTERM");
    await dir.remove();
  }
});
