import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/action.ts";
import { writeConfig } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { runIatp, tempDir } from "../helpers.ts";

const noStack = (text: string) => assert.doesNotMatch(text, /^\s+at .+:\d+:\d+/m);

Deno.test("iatp action --help lists the Stavily keys with their env names", async () => {
  const r = await runIatp(["action", "--help"]);
  assert.equal(r.code, 0, r.stderr);
  for (
    const name of [
      "IATP_ACTION_AGENT_ID",
      "IATP_ACTION_API_BASE_URL",
      "IATP_ACTION_AGENT_MAX_CONCURRENT_TASKS",
      "IATP_ACTION_HEALTH_PORT",
    ]
  ) {
    assert.match(r.stdout, new RegExp(name));
  }
});

Deno.test("iatp action: config errors exit 2 naming the key, with no stack trace", async () => {
  const dir = await tempDir();
  try {
    const unknown = await writeConfig(dir.path, "unknown.yaml", {
      agent: { id: "a1", heartbeat_intervall: "5s" },
    });
    let r = await runIatp(["action", "--config", unknown]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /config error: agent\.heartbeat_intervall \(.*unknown\.yaml:\d+\)/);
    noStack(r.stderr);
    const prod = await writeConfig(dir.path, "prod.yaml", {
      agent: { id: "a1", environment: "prod" },
      api: { base_url: "http://127.0.0.1:9" },
      security: { auth: { api_key: "k-123456" } },
    });
    r = await runIatp(["action", "--config", prod]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /api\.base_url .*https URL \(TLS\) when agent\.environment is prod/);
    noStack(r.stderr);
    r = await runIatp(["action", "--config", prod], {
      env: { IATP_ACTION_AGENT_POLL_INTERVAL: "often" },
    });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /agent\.poll_interval \(env IATP_ACTION_AGENT_POLL_INTERVAL\): expected a duration/,
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("action command: start/resolve in-process (as `iatp up` does), health components, offline on close", async () => {
  const dir = await tempDir();
  const orch = await startFakeOrchestrator({ agentId: "inproc", token: "inproc-token-1" });
  try {
    const config = command.resolve({
      agent: {
        id: "inproc",
        base_folder: join(dir.path, "base"),
        heartbeat: 200,
        poll_interval: 200,
      },
      api: { base_url: orch.url },
      security: { auth: { api_key: "inproc-token-1" } },
      health: { port: 0 },
      logging: { level: "error" },
    });
    const svc = await command.start(config);
    const h = await (await fetch(`${svc.url}/health`)).json();
    assert.deepEqual(Object.keys(h.components).sort(), [
      "audit",
      "orchestrator",
      "plugins",
      "queue",
      "relay",
      "state",
    ]);
    assert.equal(h.agent_id, "inproc");
    await svc.close();
    assert.equal(orch.heartbeats().at(-1)?.status, "offline");
    assert.ok(orch.polls().length >= 1);
  } finally {
    await orch.close();
    await dir.remove();
  }
});

Deno.test("iatp action: a file a setting names that does not exist is a config error", async () => {
  const dir = await tempDir();
  try {
    const cfg = await writeConfig(dir.path, "tls.yaml", {
      agent: { id: "a1" },
      api: { base_url: "https://127.0.0.1:9" },
      security: { tls: { ca_file: `${dir.path}/none/ca.pem` }, auth: { api_key: "k-123456" } },
      health: { port: 0 },
    });
    const r = await runIatp(["action", "--config", cfg], { env: { IATP_DATA_DIR: dir.path } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /config error: security\.tls\.ca_file \(.*tls\.yaml:\d+\): expected an existing file, found .*ca\.pem: no such file/,
    );
    noStack(r.stderr);
  } finally {
    await dir.remove();
  }
});
