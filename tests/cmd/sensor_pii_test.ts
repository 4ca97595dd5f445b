/**
 * The sensor started in-process (as `iatp up` starts it, with no command having loaded the PII
 * log scrubber): a trigger's error reaches `/health` with cards and SSNs replaced, and the state
 * database keeps no event source as text (a digest of type and source), while two sources that
 * differ only in a card number are still two events, each sent once per window.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { command } from "../../cmd/sensor.ts";
import { health, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { tempDir, waitFor } from "../helpers.ts";

const TOKEN = "sensor-pii-token-0001";
const CARD = "4111 1111 1111 1111";
const OTHER_CARD = "5500 0000 0000 0004";
const SSN = "123-45-6789";

type Triggers = Record<string, { runs: number; failures: number; last_error?: string }>;

Deno.test("sensor: no card or SSN on /health or in the state database; sources still told apart", async () => {
  const dir = await tempDir("iatp-sensor-pii-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const orch = await startFakeOrchestrator({ agentId: "sensor-pii", token: TOKEN });
  const base = join(dir.path, "agent");
  const trigger = (config: Record<string, unknown>) => ({
    plugin_id: "fixed-trigger",
    interval: "100ms",
    config: { type: "pos.alert", ...config },
  });
  const sensor = await command.start(command.resolve({
    agent: { id: "sensor-pii", base_folder: base, heartbeat: 60_000 },
    api: { base_url: orch.url },
    security: { auth: { api_key: TOKEN } },
    plugins: { directory: join(dir.path, "plugins") },
    health: { port: 0 },
    logging: { level: "error" },
    sensor: {
      publish_to: "orchestrator",
      dedup_window: 3_600_000,
      triggers: [
        trigger({ source: `terminal 7 card ${CARD}` }),
        trigger({ source: `terminal 7 card ${OTHER_CARD}` }),
        trigger({ crash: true, crash_message: `lookup of ssn ${SSN} for card ${CARD} failed` }),
      ],
    },
  }));
  const triggers = async () =>
    ((await health(sensor.url)).components as { plugins: { triggers: Triggers } }).plugins
      .triggers;
  try {
    await waitFor(
      async () => {
        const t = await triggers();
        return t["fixed-trigger#0"].runs >= 3 && t["fixed-trigger#1"].runs >= 3 &&
          t["fixed-trigger#2"].failures >= 1;
      },
      30_000,
      "three runs of each source, a failure of the third trigger",
    );
    // One event per source: the card numbers still tell the two sources apart.
    const sources = orch.events().map((e) => e.source).sort();
    assert.deepEqual(sources, [`terminal 7 card ${CARD}`, `terminal 7 card ${OTHER_CARD}`]);
    // The trigger's error on /health: redacted, the rest kept.
    const t = await triggers();
    assert.equal(
      t["fixed-trigger#2"].last_error,
      "error: lookup of ssn [SSN_REDACTED] for card [CREDIT_CARD_REDACTED] failed",
    );
    // The state database holds each key as a digest, never the source.
    const db = new DatabaseSync(join(base, "data/state/agent.db"), { readOnly: true });
    const keys = db.prepare("SELECT key FROM dedup").all().map((r) => String(r.key));
    db.close();
    assert.equal(keys.length, 2);
    for (const k of keys) assert.match(k, /^[0-9a-f]{64}$/);
    const stateDir = join(base, "data/state");
    for await (const f of Deno.readDir(stateDir)) {
      const text = new TextDecoder().decode(await Deno.readFile(join(stateDir, f.name)));
      for (const pii of [CARD, OTHER_CARD, SSN]) {
        assert.ok(!text.includes(pii), `${f.name} holds ${pii}`);
      }
    }
  } finally {
    await sensor.close();
    await orch.close();
    await dir.remove();
  }
});
