/**
 * A sensor whose relay credential lacks the `publish:sensor.*` scope: every event is refused and
 * dropped, and `/health` says so (degraded, naming the scope) rather than ok.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/sensor.ts";
import { health, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startRelay } from "../core/relay/relay_helpers.ts";
import { tempDir, waitFor } from "../helpers.ts";

const TOKEN = "sensor-reads-only-0001";

Deno.test("sensor: events the relay refuses for good (no publish scope) make /health degraded", async () => {
  const dir = await tempDir("iatp-sensor-refused-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const relay = await startRelay({ tokens: { [TOKEN]: ["subscribe:*"] } });
  const sensor = await command.start(command.resolve({
    agent: { id: "sensor-refused", base_folder: join(dir.path, "agent"), heartbeat: 60_000 },
    plugins: { directory: join(dir.path, "plugins") },
    relay: { url: relay.url, token: TOKEN },
    health: { port: 0 },
    logging: { level: "error" },
    sensor: {
      publish_to: "relay",
      triggers: [{ plugin_id: "fixed-trigger", interval: "100ms", config: { type: "pos.alert" } }],
    },
  }));
  try {
    const relayHealth = async () =>
      ((await health(sensor.url)).components as Record<string, Record<string, unknown>>).relay;
    await waitFor(async () => (await relayHealth()).dropped === 1, 20_000, "the event dropped");
    const body = await health(sensor.url);
    assert.equal(body.status, "degraded");
    assert.match(
      String(body.reason),
      /^relay: the latest event was refused and dropped: relay answered 403: credential lacks scope publish:sensor\.pos\.alert/,
    );
    assert.equal((await relayHealth()).ok, false);
  } finally {
    await sensor.close();
    await relay.close();
    await dir.remove();
  }
});
