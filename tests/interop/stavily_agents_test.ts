// Stavily agents (Stavily/01-Agents) against iatp sensor/action: our own fixture files with the
// keys and shapes of the 8 YAML files upstream ships (each fixture names its upstream path)
// start the agents, which heartbeat and poll a fake orchestrator with upstream's headers; the
// config vocabulary, `${VAR}` expansion and environment rules as upstream's loader has them.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { actionConfig, sensorConfig, wireSchemas } from "../../core/agents/mod.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import { freePort, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/stavily/", import.meta.url));
/** Where the fixtures' paths point: nothing may be created there. */
const NOWHERE = "/var/empty/iatp-fixture";
const HOST = "fixture-host";
const TOKEN = "fixture-orchestrator-token";

// fixture -> [kind, expected agent id once placeholders are filled in]
const FILES: Record<string, ["sensor" | "action", string]> = {
  "action_dev.yaml": ["action", "action-fixture-7"], // action-agent/configs/dev.yaml
  "sensor_dev.yaml": ["sensor", "sensor-fixture-7"], // sensor-agent/configs/dev.yaml
  "sensor_template.yaml": ["sensor", "sensor-fixture-7"], // sensor-agent/configs/template.yaml
  "action_localhost.yaml": ["action", `act-fixture-${HOST}-7`], // configs/action-agent-localhost.yaml
  "sensor_localhost.yaml": ["sensor", `sen-fixture-${HOST}-7`], // configs/sensor-agent-localhost.yaml
  "action_example.yaml": ["action", `act-fixture-${HOST}-7`], // examples/configs/action-agent.yaml
  "sensor_example.yaml": ["sensor", `sen-fixture-${HOST}-7`], // examples/configs/sensor-agent.yaml
  "test_agent.yaml": ["sensor", "0f4c2a8e-5b7d-4e19-9a63-2d81c7e5b0aa"], // test-agents/config.yaml
};

for (const [file, [kind, agentId]] of Object.entries(FILES)) {
  Deno.test(`Stavily ${file} starts iatp ${kind}, which heartbeats with upstream's headers`, async () => {
    const dir = await tempDir();
    const orch = await startFakeOrchestrator({ agentId, token: TOKEN });
    await Deno.writeTextFile(`${dir.path}/agent.jwt`, `Bearer ${TOKEN}\n`);
    // Per run, as upstream's own tests would: a loopback orchestrator, a token, free ports and
    // a temp base folder instead of the machine-specific values in the file.
    const agent = await startIatpService([kind, "--config", `${FIXTURES}${file}`], {
      env: {
        HOSTNAME: HOST,
        IATP_DATA_DIR: dir.path,
        [`IATP_${kind.toUpperCase()}_API_BASE_URL`]: orch.url,
        [`IATP_${kind.toUpperCase()}_SECURITY_AUTH_API_KEY`]: TOKEN,
        [`IATP_${kind.toUpperCase()}_SECURITY_AUTH_TOKEN_FILE`]: `${dir.path}/agent.jwt`,
        [`IATP_${kind.toUpperCase()}_AGENT_BASE_FOLDER`]: `${dir.path}/base`,
        [`IATP_${kind.toUpperCase()}_AGENT_POLL_INTERVAL`]: "200ms",
        [`IATP_${kind.toUpperCase()}_HEALTH_PORT`]: "0",
        [`IATP_${kind.toUpperCase()}_METRICS_PORT`]: "0",
      },
    });
    try {
      await waitFor(() => orch.heartbeats().length > 0, 20_000, "a heartbeat");
      if (kind === "action") await waitFor(() => orch.polls().length > 0, 20_000, "a poll");
      assert.deepEqual(orch.violations, []);
      const beat = orch.requests.find((r) => r.path.endsWith("/heartbeat"))!;
      assert.deepEqual(Object.keys(beat.body as object).sort(), ["status", "timestamp"]);
      for (const r of orch.requests) {
        assert.equal(r.headers["content-type"], "application/json", `${r.method} ${r.path}`);
        assert.equal(r.headers["accept"], "application/json");
        assert.equal(r.headers["authorization"], `Bearer ${TOKEN}`);
      }
      // The orchestrator client sends the User-Agent the file names (upstream's default else).
      const ua = orch.requests[0].headers["user-agent"];
      assert.match(
        ua,
        file === "test_agent.yaml" || file.includes("example")
          ? /^Stavily-Agent\/1\.0\.0$/
          : /^Fixture-Agent\/0\.9$/,
      );
      const warnings = agent.stdout().split("\n").filter((l) => l.includes("not used by iatp"));
      assert.equal(warnings.length, 1, "unused keys are listed once");
      assert.equal(existsSync(NOWHERE), false, "nothing is created outside the base folder");
    } finally {
      await agent.stop();
      await orch.close();
      await dir.remove();
    }
  });
}

async function parseFile(
  kind: "sensor" | "action",
  text: string,
  env: Record<string, string> = {},
) {
  const spec = kind === "sensor" ? sensorConfig : actionConfig;
  const l = await spec.parse(["--config", "a.yaml"], { readFile: () => text, env: (n) => env[n] });
  if (l.help) throw new Error("expected a loaded config, got --help");
  return l;
}

async function configError(f: () => unknown): Promise<ConfigError> {
  try {
    await f();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

const MIN = `agent:\n  id: a-1\n  type: action\napi:\n  base_url: http://127.0.0.1:9\n` +
  `security:\n  auth:\n    api_key: k\n`;

Deno.test("Stavily vocabulary: unused keys warn once, a typo is an error with a did-you-mean", async () => {
  const loaded = await parseFile(
    "action",
    MIN + "  sandbox:\n    max_cpu: 0.5\nmetrics:\n  namespace: x\naction:\n  work_dir: /x\n",
  );
  assert.deepEqual(loaded.warnings, [
    "config keys accepted but not used by iatp: security.sandbox.max_cpu, metrics.namespace, " +
    "action.work_dir",
  ]);
  const typo = await configError(() =>
    parseFile("action", MIN.replace("  id:", "  hearbeat: 1s\n  id:"))
  );
  assert.equal(typo.key, "agent.hearbeat");
  assert.match(typo.expected, /did you mean "heartbeat"\?/);
  const stranger = await configError(() => parseFile("action", MIN + "bogus_section: {}\n"));
  assert.match(stranger.found, /unknown key "bogus_section"/);
});

Deno.test("Stavily ${VAR} expansion: set, default, hostname, and unset naming the variable", async () => {
  const text = MIN.replace("id: a-1", "id: a-${STAVILY_SITE}-${STAVILY_N:-9}")
    .replace("base_url: http://127.0.0.1:9", "base_url: http://${STAVILY_HOST}:9");
  const { config } = await parseFile("action", text, {
    STAVILY_SITE: "lab",
    STAVILY_HOST: "127.0.0.1",
  });
  assert.equal(config.agent.id, "a-lab-9");
  assert.equal(config.api.base_url, "http://127.0.0.1:9");
  const unset = await configError(() => parseFile("action", text, { STAVILY_HOST: "x" }));
  assert.equal(unset.key, "agent.id");
  assert.match(unset.found, /\$\{STAVILY_SITE\} is not set/);
  const host = await parseFile("action", MIN.replace("id: a-1", "id: a-${HOSTNAME}"), {
    HOSTNAME: "box1",
  });
  assert.equal(host.config.agent.id, "a-box1");
});

Deno.test("Stavily environments: only prod applies the production rules, as upstream", async () => {
  const prod = (extra: string) =>
    parseFile("action", MIN.replace("type: action", "type: action\n  environment: prod") + extra);
  const production = await parseFile(
    "action",
    MIN.replace("type: action", "type: action\n  environment: production") +
      "  audit:\n    enabled: false\n",
  );
  assert.match(production.warnings!.join("\n"), /only prod applies the production rules/);
  assert.equal(
    (await configError(() => prod("  tls:\n    enabled: false\n"))).key,
    "security.tls.enabled",
  );
  assert.equal((await configError(() => prod("logging:\n  level: debug\n"))).key, "logging.level");
  const text = await parseFile("action", MIN + "logging:\n  format: text\n");
  assert.match(text.warnings!.join("\n"), /logging.format text/);
});

Deno.test("Stavily poll response vector (01-Agents test_plugin_install.py) parses", async () => {
  const { instructionSchema, pollResponseSchema } = await wireSchemas();
  const poll = pollResponseSchema.parse({
    instruction: {
      id: "inst-7",
      agent_id: "agent-x",
      plugin_id: "fixture-plugin",
      instruction_type: "plugin_install",
      plugin_configuration: { entrypoint: "main.py", plugin_url: "file:///nowhere" },
      input_data: {},
      timeout_seconds: 300,
      max_retries: 3,
      created_by: null,
      status: "instruction_delivered",
      priority: "normal",
      source: "manual",
      retry_count: 0,
      execution_log: [],
    },
    status: "instruction_delivered",
    next_poll_interval: 5,
  });
  const inst = instructionSchema.parse(poll.instruction);
  assert.deepEqual(
    [inst.instruction_type, inst.timeout_seconds, inst.max_retries, poll.next_poll_interval],
    ["plugin_install", 300, 3, 5],
  );
});

/** The machine's name as /etc/hostname keeps it (undefined where there is none). */
function etcHostname(): string | undefined {
  try {
    return Deno.readTextFileSync("/etc/hostname").trim().split(/\s/)[0] || undefined;
  } catch {
    return undefined;
  }
}

Deno.test({
  name:
    "a Stavily ${HOSTNAME} file starts the sensor where HOSTNAME is not exported (systemd, cron)",
  ignore: etcHostname() === undefined,
  async fn() {
    const machine = etcHostname()!;
    const agentId = `sen-fixture-${machine}-7`;
    const dir = await tempDir();
    const orch = await startFakeOrchestrator({ agentId, token: TOKEN, port: freePort() });
    await Deno.writeTextFile(`${dir.path}/agent.jwt`, `Bearer ${TOKEN}\n`);
    // Only what the launcher needs to find Deno and its cache: no HOSTNAME, as under systemd.
    const env: Record<string, string> = {};
    for (const name of ["PATH", "HOME", "DENO_DIR", "DENO_BIN", "XDG_CACHE_HOME"]) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    const agent = await startIatpService(
      ["sensor", "--config", `${FIXTURES}sensor_localhost.yaml`],
      {
        clearEnv: true,
        env: {
          ...env,
          IATP_DATA_DIR: dir.path,
          IATP_SENSOR_API_BASE_URL: orch.url,
          IATP_SENSOR_SECURITY_AUTH_API_KEY: TOKEN,
          IATP_SENSOR_SECURITY_AUTH_TOKEN_FILE: `${dir.path}/agent.jwt`,
          IATP_SENSOR_AGENT_BASE_FOLDER: `${dir.path}/base`,
          IATP_SENSOR_HEALTH_PORT: String(freePort()),
          IATP_SENSOR_METRICS_PORT: String(freePort()),
        },
      },
    );
    try {
      await waitFor(() => orch.heartbeats().length > 0, 20_000, "a heartbeat").catch((err) => {
        throw new Error(agent.stdout() + agent.stderr(), { cause: err });
      });
      assert.deepEqual(orch.violations, []);
      assert.ok(
        orch.requests.some((r) => r.path === `/agents/v1/${agentId}/heartbeat`),
        JSON.stringify(orch.requests.map((r) => r.path)),
      );
    } finally {
      await agent.stop();
      await orch.close();
      await dir.remove();
    }
  },
});
