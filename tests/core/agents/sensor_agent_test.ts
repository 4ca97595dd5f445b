import assert from "node:assert/strict";
import { intervalMs } from "../../../core/agents/sensor_agent.ts";

Deno.test("sensor: a trigger's interval from its plugin config (seconds) is at least 50 ms, as the trigger's own", () => {
  assert.equal(intervalMs({ plugin_id: "p", config: { interval: 30 } }), 30_000);
  // 0.0001 s would run the plugin back to back.
  assert.equal(intervalMs({ plugin_id: "p", config: { interval: 0.0001 } }), 50);
  assert.equal(intervalMs({ plugin_id: "p", config: { interval: 0 } }), 30_000);
  assert.equal(intervalMs({ plugin_id: "p", interval: "2s", config: { interval: 1 } }), 2_000);
});
