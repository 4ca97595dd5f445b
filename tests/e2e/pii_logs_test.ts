/**
 * Real service children: cards and SSNs that reach a service (an instruction id from the
 * orchestrator, a plugin's error message, a command id) never reach its log lines or its audit
 * trail (nor, for the action agent, the results it reports), whichever service it is, not only
 * the sidecar.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeConfig, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { signRequest } from "../../core/auth/mod.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";

const TOKEN = "pii-orchestrator-token";
const CARD = "4532015112830366";
const DASHED_CARD = "4532-0151-1283-0366";
const SSN = "123-45-6789";

Deno.test("action agent: no card or SSN in its log lines, audit trail or results", async () => {
  // Before: the action agent never loaded the PII scrubber, so both were written as they came.
  const dir = await tempDir("iatp-action-pii-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const orch = await startFakeOrchestrator({ agentId: "act-pii", token: TOKEN });
  const config = await writeConfig(dir.path, "action.yaml", {
    agent: { id: "act-pii", base_folder: join(dir.path, "agent"), poll_interval: "30s" },
    api: { base_url: orch.url, retry_delay: "100ms", retry_max_delay: "500ms" },
    security: { auth: { api_key: TOKEN } },
    plugins: { directory: join(dir.path, "plugins") },
    health: { port: 0 },
    logging: { level: "debug" },
  });
  const id = `order-${CARD}`;
  orch.enqueue({
    id,
    plugin_id: "echo-action",
    instruction_type: "execute",
    plugin_configuration: {},
    input_data: { fail: `card ${DASHED_CARD} ssn ${SSN}` },
    timeout_seconds: 30,
    max_retries: 0,
  });
  // A config key the agent names in its own error message, which no plugin host scrubbed.
  orch.enqueue({
    id: "config-key",
    plugin_id: "echo-action",
    instruction_type: "execute",
    plugin_configuration: { [`card ${DASHED_CARD}`]: 1 },
    input_data: {},
  });
  const agent = await startIatpService(["action", "--config", config], {
    env: { IATP_DATA_DIR: dir.path },
  });
  try {
    await waitFor(() => orch.results().length === 2, 60_000, "the results");
    assert.deepEqual(orch.results().map((r) => r.body.status), ["failed", "failed"]);
  } finally {
    await agent.stop("SIGTERM");
    await orch.close();
  }
  try {
    // The orchestrator gets each error with the card and SSN replaced, the rest kept (before:
    // the agent's own message went out with the config key as the orchestrator sent it).
    const [thrown, named] = [orch.results(id)[0].body, orch.results("config-key")[0].body];
    assert.match(
      String(thrown.error_message),
      /^card \[CREDIT_CARD_REDACTED\] ssn \[SSN_REDACTED\]$/,
    );
    assert.match(
      String(named.error_message),
      /^config\.card \[CREDIT_CARD_REDACTED\]: unknown field/,
    );
    const trail = await Deno.readTextFile(join(dir.path, "agent/logs/audit/audit.jsonl"));
    const logs = agent.stdout() + agent.stderr();
    // The instruction was logged and audited, with the card and SSN replaced.
    assert.match(logs, /order-\[CREDIT_CARD_REDACTED\]/);
    assert.match(trail, /\[SSN_REDACTED\]/);
    const sent = JSON.stringify(orch.results().map((r) => r.body));
    for (const [name, text] of [["logs", logs], ["audit trail", trail], ["results", sent]]) {
      for (const pii of [CARD, DASHED_CARD, SSN]) {
        assert.ok(!text.includes(pii), `${name} hold ${pii}`);
      }
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("compose-agent: no card in its log lines", async () => {
  // Before: the command log line carried the caller's command id as it came.
  const dir = await tempDir("iatp-compose-pii-");
  const key = "compose-pii-test-key-0123456789";
  const agent = await startIatpService(["compose-agent", "--port", "0"], {
    env: {
      IATP_DATA_DIR: dir.path,
      IATP_COMPOSE_AGENT_AGENT_ID: "compose-1",
      IATP_COMPOSE_AGENT_AGENT_TOKEN: key,
      IATP_COMPOSE_AGENT_SCOPES: "docker:logs",
      IATP_COMPOSE_AGENT_DOCKER_SOCKET: join(dir.path, "no-docker.sock"),
    },
  });
  try {
    const path = "/api/v1/commands/execute";
    const body = JSON.stringify({
      command_id: `cmd-${CARD}`,
      type: "logs",
      parameters: { name: "web" },
    });
    const headers = await signRequest(key, {
      agentId: "status-1",
      method: "POST",
      url: path,
      body,
    });
    const res = await fetch(agent.url + path, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body,
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).command_id, `cmd-${CARD}`, "the caller's answer is untouched");
    await waitFor(() => agent.stdout().includes('"msg":"command"'), 10_000, "the command line");
  } finally {
    await agent.stop("SIGTERM");
  }
  try {
    const logs = agent.stdout() + agent.stderr();
    assert.match(logs, /cmd-\[CREDIT_CARD_REDACTED\]/);
    assert.ok(!logs.includes(CARD), "logs hold the card");
  } finally {
    await dir.remove();
  }
});
