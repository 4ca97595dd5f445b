import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/action.ts";
import { writeConfig } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { createLogger } from "../../core/log/mod.ts";
import { runIatp, tempDir, waitFor } from "../helpers.ts";

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
      "results",
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

Deno.test("action: instructions it cannot parse wait agent.poll_interval before the next poll, as a failed poll does", async () => {
  const dir = await tempDir();
  const orch = await startFakeOrchestrator({ agentId: "junk", token: "junk-token-0001" });
  // No next_poll_interval: only the agent's own schedule decides when it polls again.
  orch.setNextPollInterval(null);
  for (let i = 0; i < 10; i++) orch.enqueue({ junk: i, instruction_type: ["not", "a", "type"] });
  const lines: string[] = [];
  const log = createLogger({ service: "action", level: "info", sink: (l) => lines.push(l) });
  const logged = () =>
    lines.map((l) => JSON.parse(l) as { msg: string; fields?: Record<string, unknown> });
  const config = command.resolve({
    agent: { id: "junk", base_folder: join(dir.path, "base"), poll_interval: 30_000 },
    api: { base_url: orch.url },
    security: { auth: { api_key: "junk-token-0001" } },
    health: { port: 0 },
  });
  const svc = await command.start(config, { log });
  try {
    await waitFor(
      () => logged().some((l) => l.msg === "invalid instruction"),
      20_000,
      "the first junk answer",
    );
    // Counted over a window far shorter than poll_interval: one poll, nine junk answers left.
    // (Before, each junk answer was polled again at once: all ten within the window.)
    await new Promise((done) => setTimeout(done, 1_000));
    assert.equal(orch.polls().length, 1);
    assert.equal(orch.pending(), 9);
    assert.equal(logged().filter((l) => l.msg === "invalid instruction").length, 1);
    // The agent's choice, from its log: the next poll after poll_interval.
    const wait = logged().find((l) => l.msg.startsWith("the orchestrator's instruction was not"));
    assert.equal(wait?.fields?.next_poll_ms, 30_000, lines.join("\n"));
  } finally {
    await svc.close();
    await orch.close();
    await dir.remove();
  }
});

Deno.test("action: an invalid instruction is reported under its id only when the id survives storage (no NUL, no lone surrogate, at most 256 printable characters)", async () => {
  const dir = await tempDir();
  const orch = await startFakeOrchestrator({ agentId: "junkid", token: "junkid-token-01" });
  orch.setNextPollInterval(null);
  // Each fails validation; before, each was stored under its id and reported: the NUL one
  // (read back cut at the NUL, so never marked reported) was sent again on every sweep.
  orch.enqueue({ id: "nul\u0000id", instruction_type: "execute" });
  orch.enqueue({ id: "lone-\ud800", instruction_type: "execute" });
  orch.enqueue({ id: "x".repeat(300), instruction_type: "execute" });
  orch.enqueue({ id: "bad/../id", instruction_type: "execute" });
  const config = command.resolve({
    agent: { id: "junkid", base_folder: join(dir.path, "base"), poll_interval: 100 },
    api: { base_url: orch.url },
    security: { auth: { api_key: "junkid-token-01" } },
    health: { port: 0 },
    logging: { level: "error" },
  });
  const svc = await command.start(config);
  const reported = () => orch.results().filter((r) => r.id === "bad/../id");
  try {
    await waitFor(() => reported().length > 0, 20_000, "the reportable id's result");
    // After a sweep of unreported results (each second), still only the reportable id, once.
    const polls = orch.polls().length;
    await waitFor(() => orch.polls().length >= polls + 15, 20_000, "fifteen more polls");
    assert.deepEqual([...new Set(orch.results().map((r) => r.id))], ["bad/../id"]);
    assert.equal(reported().length, 1);
    assert.deepEqual(orch.violations, []);
  } finally {
    await svc.close();
    await orch.close();
    await dir.remove();
  }
});

Deno.test("action: an invalid instruction whose id is a dot segment ('.', '..') is not reported under it: its result would go to another path of the orchestrator", async () => {
  const dir = await tempDir();
  const orch = await startFakeOrchestrator({ agentId: "dotid", token: "dotid-token-0001" });
  orch.setNextPollInterval(null);
  // encodeURIComponent leaves `.` as it is, and a URL's `..` segment (or `%2e%2e`) takes the
  // one before it away: `/agents/v1/dotid/instructions/../result` is `/agents/v1/dotid/result`.
  orch.enqueue({ id: "..", instruction_type: "execute" });
  orch.enqueue({ id: ".", instruction_type: "execute" });
  orch.enqueue({ id: "ok..id", instruction_type: "execute" });
  const config = command.resolve({
    agent: { id: "dotid", base_folder: join(dir.path, "base"), poll_interval: 100 },
    api: { base_url: orch.url },
    security: { auth: { api_key: "dotid-token-0001" } },
    health: { port: 0 },
    logging: { level: "error" },
  });
  const svc = await command.start(config);
  try {
    await waitFor(() => orch.results("ok..id").length > 0, 20_000, "the reportable id's result");
    // After a sweep of unreported results (each second), nothing went anywhere but the routes.
    const polls = orch.polls().length;
    await waitFor(() => orch.polls().length >= polls + 15, 20_000, "fifteen more polls");
    const stray = orch.requests.filter((r) => r.status === 404).map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(stray, [], "a result posted to a path that is not its instruction's");
    assert.deepEqual([...new Set(orch.results().map((r) => r.id))], ["ok..id"]);
    assert.deepEqual(orch.violations, []);
  } finally {
    await svc.close();
    await orch.close();
    await dir.remove();
  }
});
