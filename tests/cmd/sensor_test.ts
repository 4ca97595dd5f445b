import assert from "node:assert/strict";
import { writeConfig } from "../core/agents/fixtures.ts";
import { runIatp, tempDir } from "../helpers.ts";

Deno.test("iatp sensor --help lists the sensor keys", async () => {
  const r = await runIatp(["sensor", "--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /IATP_SENSOR_SENSOR_DEDUP_WINDOW/);
  assert.match(r.stdout, /IATP_SENSOR_RELAY_URL/);
});

Deno.test("iatp sensor: bad trigger list, missing relay and bad duration exit 2 naming the key", async () => {
  const dir = await tempDir();
  try {
    const bad = await writeConfig(dir.path, "bad.yaml", {
      agent: { id: "s1" },
      relay: { url: "http://127.0.0.1:9" },
      sensor: { triggers: [{ plugin_id: "cpu-monitor", interval: "every minute" }] },
    });
    let r = await runIatp(["sensor", "--config", bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /config error: sensor\.triggers \(.*bad\.yaml:\d+\)/);
    const noRelay = await writeConfig(dir.path, "norelay.yaml", { agent: { id: "s1" } });
    r = await runIatp(["sensor", "--config", noRelay]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /relay\.url .*a relay URL when sensor\.publish_to is relay/);
    r = await runIatp(["sensor", "--config", noRelay], {
      env: {
        IATP_SENSOR_RELAY_URL: "http://127.0.0.1:9",
        IATP_SENSOR_SENSOR_DEDUP_WINDOW: "1 hour",
      },
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /sensor\.dedup_window \(env IATP_SENSOR_SENSOR_DEDUP_WINDOW\)/);
    assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+/m);
  } finally {
    await dir.remove();
  }
});

Deno.test("iatp sensor: an unknown plugin or a config its manifest refuses fails at start", async () => {
  const dir = await tempDir();
  try {
    const env = { IATP_DATA_DIR: dir.path };
    const unknown = await writeConfig(dir.path, "unknown.yaml", {
      agent: { id: "s1" },
      relay: { url: "http://127.0.0.1:9" },
      sensor: { triggers: [{ plugin_id: "no-such-plugin", interval: "1s" }] },
    });
    let r = await runIatp(["sensor", "--config", unknown], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /config error: sensor\.triggers \(.*unknown\.yaml:\d+\): .*triggers\[0\] \(no-such-plugin\): .*not installed/,
    );
    const bad = await writeConfig(dir.path, "bad.yaml", {
      agent: { id: "s1" },
      relay: { url: "http://127.0.0.1:9" },
      sensor: {
        triggers: [{ plugin_id: "cpu-monitor", interval: "1s", config: { threshold: 200 } }],
      },
    });
    r = await runIatp(["sensor", "--config", bad], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /sensor\.triggers .*triggers\[0\] \(cpu-monitor\): .*threshold/);
  } finally {
    await dir.remove();
  }
});
