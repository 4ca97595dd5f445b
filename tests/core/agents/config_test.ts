import assert from "node:assert/strict";
import { actionConfig, sensorConfig } from "../../../core/agents/config.ts";
import { ConfigError } from "../../../core/errors/mod.ts";
import { loaded } from "../../helpers.ts";

const files = (text: string) => ({ readFile: () => text, env: () => undefined });

async function configError(fn: () => unknown): Promise<ConfigError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

const BASE = `
agent:
  id: act-1
api:
  base_url: http://127.0.0.1:9
security:
  auth:
    api_key: abcdefgh
`;

Deno.test("action config: a valid Stavily YAML file loads with defaults", async () => {
  const { config } = loaded(await actionConfig.parse(["--config", "a.yaml"], files(BASE)));
  assert.equal(config.agent.id, "act-1");
  assert.equal(config.agent.heartbeat, 30_000);
  assert.equal(config.agent.poll_interval, 30_000);
  assert.equal(config.agent.max_concurrent_tasks, 10);
  assert.equal(config.agent.task_timeout, 300_000);
  assert.equal(config.api.retry_attempts, 3);
  assert.equal(config.api.rate_limit_rps, 10);
  assert.equal(config.agent.type, "action");
});

Deno.test("config: an unknown key is an error naming the key and the file line", async () => {
  const err = await configError(async () =>
    loaded(
      await actionConfig.parse(["--config", "a.yaml"], files(BASE + "  heartbeat_intervall: 5s\n")),
    )
  );
  assert.equal(err.key, "security.heartbeat_intervall");
  assert.match(err.message, /a\.yaml:\d+/);
  assert.match(err.message, /unknown key "heartbeat_intervall"/);
});

Deno.test("config: a bad duration names the key", async () => {
  const text = BASE.replace("agent:\n  id: act-1", "agent:\n  id: act-1\n  heartbeat: soon");
  const err = await configError(async () =>
    loaded(await actionConfig.parse(["--config", "a.yaml"], files(text)))
  );
  assert.equal(err.key, "agent.heartbeat");
  assert.match(err.message, /a duration such as 500ms/);
  assert.match(err.message, /"soon"/);
});

Deno.test("config: prod without TLS to the orchestrator is rejected", async () => {
  const text = BASE.replace("id: act-1", "id: act-1\n  environment: prod");
  const err = await configError(async () =>
    loaded(await actionConfig.parse(["--config", "a.yaml"], files(text)))
  );
  assert.equal(err.key, "api.base_url");
  assert.match(err.message, /https URL \(TLS\) when agent.environment is prod/);
  const https = text.replace("http://127.0.0.1:9", "https://orchestrator.example");
  const { config } = loaded(await actionConfig.parse(["--config", "a.yaml"], files(https)));
  assert.equal(config.agent.environment, "prod");
});

Deno.test("config: prod without audit is rejected", async () => {
  const text = BASE.replace("id: act-1", "id: act-1\n  environment: prod")
    .replace("http://127.0.0.1:9", "https://o.example") + "  audit:\n    enabled: false\n";
  const err = await configError(async () =>
    loaded(await actionConfig.parse(["--config", "a.yaml"], files(text)))
  );
  assert.equal(err.key, "security.audit.enabled");
});

Deno.test("config: env overrides are IATP_ACTION_<SECTION>_<KEY> and beat the file", async () => {
  const env: Record<string, string> = {
    IATP_ACTION_AGENT_ID: "from-env",
    IATP_ACTION_API_BASE_URL: "http://127.0.0.1:7",
    IATP_ACTION_AGENT_MAX_CONCURRENT_TASKS: "3",
  };
  const { config, sources } = loaded(
    await actionConfig.parse(["--config", "a.yaml"], {
      readFile: () => BASE,
      env: (n) => env[n],
    }),
  );
  assert.equal(config.agent.id, "from-env");
  assert.equal(config.api.base_url, "http://127.0.0.1:7");
  assert.equal(config.agent.max_concurrent_tasks, 3);
  assert.deepEqual(sources.get("agent.id"), { kind: "env", name: "IATP_ACTION_AGENT_ID" });
  const err = await configError(async () =>
    loaded(
      await actionConfig.parse([], {
        readFile: () => "",
        env: (n) => ({ ...env, IATP_ACTION_AGENT_HEARTBEAT: "x" })[n],
      }),
    )
  );
  assert.equal(err.key, "agent.heartbeat");
  assert.match(err.message, /env IATP_ACTION_AGENT_HEARTBEAT/);
});

Deno.test("config: agent id is required and must be path-safe", async () => {
  let err = await configError(async () =>
    loaded(await actionConfig.parse(["--config", "a.yaml"], files("api:\n  base_url: http://x\n")))
  );
  assert.equal(err.key, "agent.id");
  err = await configError(async () =>
    loaded(await actionConfig.parse(["--config", "a.yaml"], files("agent:\n  id: ../etc\n")))
  );
  assert.equal(err.key, "agent.id");
});

Deno.test("config: api key or token file is required with an orchestrator", async () => {
  const err = await configError(async () =>
    loaded(
      await actionConfig.parse(
        ["--config", "a.yaml"],
        files("agent:\n  id: a\napi:\n  base_url: http://x\n"),
      ),
    )
  );
  assert.equal(err.key, "security.auth.api_key");
});

Deno.test("config: mTLS needs both cert and key", async () => {
  const text = BASE + "  tls:\n    cert_file: /x/cert.pem\n";
  const err = await configError(async () =>
    loaded(await actionConfig.parse(["--config", "a.yaml"], files(text)))
  );
  assert.equal(err.key, "security.tls.key_file");
});

Deno.test("config: agent.type must match the command", async () => {
  const err = await configError(async () =>
    loaded(
      await sensorConfig.parse(
        ["--config", "a.yaml"],
        files(BASE.replace("id: act-1", "id: s\n  type: action")),
      ),
    )
  );
  assert.equal(err.key, "agent.type");
});

Deno.test("sensor config: triggers are validated and need somewhere to publish", async () => {
  const text = `agent:\n  id: s1\nrelay:\n  url: http://127.0.0.1:1\nsensor:\n  triggers:\n` +
    `    - plugin_id: cpu-monitor\n      interval: 10s\n      config: {threshold: 90}\n`;
  const { config } = loaded(await sensorConfig.parse(["--config", "a.yaml"], files(text)));
  assert.equal(config.sensor.triggers[0].plugin_id, "cpu-monitor");
  assert.equal(config.sensor.dedup_window, 300_000);
  let err = await configError(async () =>
    loaded(
      await sensorConfig.parse(
        ["--config", "a.yaml"],
        files(text.replace("cpu-monitor", "../../etc")),
      ),
    )
  );
  assert.equal(err.key, "sensor.triggers");
  err = await configError(async () =>
    loaded(await sensorConfig.parse(["--config", "a.yaml"], files("agent:\n  id: s1\n")))
  );
  assert.equal(err.key, "relay.url");
});

Deno.test("sensor config: each trigger is {plugin_id, interval?, config} and nothing else", async () => {
  const parse = (triggers: string) =>
    sensorConfig.parse(
      ["--config", "a.yaml"],
      files(
        `agent:\n  id: s1\nrelay:\n  url: http://127.0.0.1:1\nsensor:\n  triggers: ${triggers}\n`,
      ),
    );
  const ok = loaded(
    await parse("[{plugin_id: cpu-monitor}, {plugin_id: disk-watch, interval: 50}]"),
  );
  assert.deepEqual(ok.config.sensor.triggers, [
    { plugin_id: "cpu-monitor", config: {} },
    { plugin_id: "disk-watch", interval: 50, config: {} },
  ]);
  const tooMany = `[${Array(65).fill("{plugin_id: cpu-monitor}").join(", ")}]`;
  for (
    const bad of [
      "[{plugin_id: cpu-monitor, extra: 1}]",
      "[{plugin_id: cpu-monitor, interval: 49}]",
      "[{plugin_id: cpu-monitor, interval: 0ms}]",
      "[{plugin_id: cpu-monitor, interval: 0.01s}]",
      "[{plugin_id: cpu-monitor, interval: 1.5}]",
      "[{plugin_id: cpu-monitor, interval: soon}]",
      "[{plugin_id: cpu-monitor, config: [1]}]",
      "[{interval: 10s}]",
      "[cpu-monitor]",
      "{plugin_id: cpu-monitor}",
      tooMany,
    ]
  ) {
    const err = await configError(async () => loaded(await parse(bad)));
    assert.equal(err.key, "sensor.triggers", bad);
  }
});
