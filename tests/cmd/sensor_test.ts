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

Deno.test("iatp sensor: a security.audit.log_file that is a pipe is a config error naming it", async () => {
  const dir = await tempDir();
  try {
    // The default trail, under the base folder's logs/audit/.
    const trail = `${dir.path}/base/logs/audit`;
    await Deno.mkdir(trail, { recursive: true });
    const fifo = `${trail}/audit.jsonl`;
    assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
    const config = await writeConfig(dir.path, "fifo.yaml", {
      agent: { id: "s1", base_folder: `${dir.path}/base` },
      relay: { url: "http://127.0.0.1:19432" },
      security: { audit: { enabled: true } },
    });
    // Opening the pipe to append waited for a reader with the agent's thread: the start never
    // ended, and is stopped after the wait.
    const r = await runIatp(["sensor", "--config", config], {
      env: { IATP_DATA_DIR: dir.path },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 2, r.stderr + r.stdout);
    assert.match(
      r.stderr,
      /config error: security\.audit\.log_file .*audit\.jsonl \(a pipe \(FIFO\)\)/,
    );
  } finally {
    await dir.remove();
  }
});
