/**
 * An event the sensor has not delivered (it stopped with the event waiting, or the relay buffer had
 * no room for it) is sent when its plugin reports it again: its de-duplication key is forgotten,
 * not kept for a delivery that never happened.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/sensor.ts";
import { metric, writeConfig, writeFixturePlugins, writePlugin } from "../core/agents/fixtures.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";
import { type StallConnection, startStallServer } from "../support/stall_server.ts";

const API_KEY = "sensor-stop-key-0123456789";

const answer = (c: StallConnection, status: string, body: string) =>
  c.write(
    `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.length}\r\n\r\n${body}`,
  );

/**
 * Runs a sensor (a real process through the launcher) whose one event goes to a server that
 * holds back its answer, stops it with SIGTERM while the event waits, then starts it again on
 * the same state folder with the server answering at once: the event must go out again.
 */
async function eventHeldAtStopIsSentAfterRestart(
  target: "relay" | "orchestrator",
): Promise<void> {
  const dir = await tempDir("iatp-sensor-stop-");
  const deliveries: StallConnection[] = [];
  let answerAtOnce = false;
  const server = startStallServer(async (c) => {
    const [method, path] = c.lines[0].split(" ");
    const delivery = target === "relay"
      ? method === "POST" && path === "/publish"
      : method === "POST" && path.endsWith("/triggers");
    if (!delivery) return await answer(c, "200 OK", "{}"); // heartbeats
    deliveries.push(c);
    if (!answerAtOnce) return; // held: no answer until the client gives up
    await answer(c, "201 Created", target === "relay" ? '{"event_id":"e","seq":1,"id":"1"}' : "{}");
  });
  await writeFixturePlugins(join(dir.path, "plugins"));
  const config = await writeConfig(dir.path, "sensor.yaml", {
    agent: { id: "sensor-stop", base_folder: join(dir.path, "agent"), heartbeat: 600_000 },
    plugins: { directory: join(dir.path, "plugins") },
    health: { port: 0 },
    ...(target === "relay" ? { relay: { url: server.url } } : {
      api: { base_url: server.url, timeout: 1_000, retry_attempts: 0 },
      security: { auth: { api_key: API_KEY } },
    }),
    sensor: {
      publish_to: target,
      // One run at start; the next would come after the test.
      triggers: [{ plugin_id: "fixed-trigger", interval: "1h", config: { type: "pos.alert" } }],
    },
  });
  const args = ["sensor", "--config", config];
  const env = { IATP_DATA_DIR: dir.path };
  let sensor = await startIatpService(args, { env });
  try {
    await waitFor(() => deliveries.length === 1, 30_000, "the event's delivery to start");
    await sensor.process.kill("SIGTERM");
    assert.equal((await sensor.process.status).code, 0, sensor.stderr());

    answerAtOnce = true;
    sensor = await startIatpService(args, { env });
    const decided = async () =>
      await metric(sensor.url, "iatp_agent_triggers_total", { plugin: "fixed-trigger" });
    await waitFor(async () => await decided() >= 1, 30_000, "the second start's event");
    const deduplicated = await metric(sensor.url, "iatp_agent_triggers_total", {
      result: "deduplicated",
    });
    assert.equal(deduplicated, 0, "the event held at the stop was taken for a repeat");
    await waitFor(() => deliveries.length === 2, 30_000, "the event's second delivery");
  } finally {
    await sensor.stop();
    server.close();
    await dir.remove();
  }
}

Deno.test("sensor: an event the relay has not taken when the sensor stops goes out on the next start", async () => {
  await eventHeldAtStopIsSentAfterRestart("relay");
});

Deno.test("sensor: an event the orchestrator has not taken when the sensor stops goes out on the next start", async () => {
  await eventHeldAtStopIsSentAfterRestart("orchestrator");
});

Deno.test("sensor: an event the relay buffer has no room for is sent when its plugin reports it again", async () => {
  const dir = await tempDir("iatp-sensor-full-");
  const deliveries: StallConnection[] = [];
  let answerAtOnce = false;
  const taken = '{"event_id":"e","seq":1,"id":"1"}';
  const relay = startStallServer(async (c) => {
    deliveries.push(c);
    if (answerAtOnce) await answer(c, "201 Created", taken);
  });
  await writeFixturePlugins(join(dir.path, "plugins"));
  const trigger = (source: string) => ({
    plugin_id: "fixed-trigger",
    interval: "100ms",
    config: { type: "pos.alert", source },
  });
  const sensor = await command.start(command.resolve({
    agent: { id: "sensor-full", base_folder: join(dir.path, "agent"), heartbeat: 600_000 },
    plugins: { directory: join(dir.path, "plugins") },
    relay: { url: relay.url, buffer_size: 1 },
    health: { port: 0 },
    logging: { level: "error" },
    sensor: { publish_to: "relay", triggers: [trigger("a"), trigger("b")] },
  }));
  try {
    // One event waits on the relay's answer and fills the buffer; the other finds no room.
    await waitFor(
      async () => await metric(sensor.url, "iatp_agent_relay_dropped_total") >= 1,
      30_000,
      "an event dropped for want of room",
    );
    assert.equal(deliveries.length, 1);
    answerAtOnce = true;
    await answer(deliveries[0], "201 Created", taken);
    await waitFor(() => deliveries.length === 2, 30_000, "the dropped event's delivery");
  } finally {
    await sensor.close();
    relay.close();
    await dir.remove();
  }
});

Deno.test("sensor: a stop during a plugin call is not logged or audited as the plugin's failure", async () => {
  const dir = await tempDir("iatp-sensor-stop-call-");
  // A trigger whose call outlasts the test: the stop kills its host in the middle of it.
  await writePlugin(
    join(dir.path, "plugins"),
    "slow-trigger",
    "trigger",
    "export async function detect() { await new Promise((r) => setTimeout(r, 600_000)); return []; }\n",
    {},
    { limits: { timeout_ms: 600_000, memory_mb: 64, max_output_bytes: 65536 } },
  );
  const base = join(dir.path, "agent");
  const config = await writeConfig(dir.path, "sensor.yaml", {
    agent: { id: "sensor-stop-call", base_folder: base, heartbeat: 600_000 },
    plugins: { directory: join(dir.path, "plugins") },
    health: { port: 0 },
    logging: { level: "debug" },
    sensor: { publish_to: "relay", triggers: [{ plugin_id: "slow-trigger", interval: "1h" }] },
    relay: { url: "http://127.0.0.1:9" },
  });
  const sensor = await startIatpService(["sensor", "--config", config], {
    env: { IATP_DATA_DIR: dir.path },
  });
  try {
    // Once the host has started, the call is sent to it at once and sleeps there.
    await waitFor(() => sensor.stdout().includes("plugin host started"), 30_000, "the plugin host");
    await sensor.process.kill("SIGTERM");
    assert.equal((await sensor.process.status).code, 0, sensor.stdout() + sensor.stderr());
    const log = sensor.stdout() + sensor.stderr();
    assert.doesNotMatch(log, /plugin call failed|trigger plugin failed/, log);
    const audit = await Deno.readTextFile(join(base, "logs/audit/audit.jsonl")).catch(() => "");
    assert.ok(!audit.includes("plugin.failed"), audit);
  } finally {
    await sensor.stop();
    await dir.remove();
  }
});
