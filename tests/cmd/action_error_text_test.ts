/**
 * The action agent started in-process (as `iatp up` starts it, with no command having loaded the
 * PII log scrubber): a plugin's error text, and an error the agent words itself around a value
 * the orchestrator sent, reach the orchestrator's result, the execution log, `action.results` on
 * the relay and the stored result with cards, SSNs and secrets replaced, the rest kept.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { command } from "../../cmd/action.ts";
import { command as relayCommand } from "../../cmd/relay.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { tempDir, waitFor } from "../helpers.ts";

const TOKEN = "action-error-text-token-0001";
const CARD = "4111 1111 1111 1111";
const SSN = "123-45-6789";
const SECRET = "sk-live-0123456789abcdef";

function execute(id: string, fields: Record<string, unknown>) {
  return {
    id,
    plugin_id: "echo-action",
    instruction_type: "execute",
    plugin_configuration: {},
    input_data: {},
    timeout_seconds: 30,
    max_retries: 0,
    ...fields,
  };
}

Deno.test("action: error text leaves the agent without cards, SSNs or secrets", async () => {
  const dir = await tempDir("iatp-action-error-text-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const relay = await relayCommand.start(relayCommand.resolve({ port: 0, workers: 1 }), {
    log: silentLogger,
  });
  const client = new RelayClient({ url: relay.url, log: silentLogger });
  const events: RelayEvent[] = [];
  const sub = client.subscribe(["action.results"], (e) => void events.push(e), { since: "0" });
  const orch = await startFakeOrchestrator({ agentId: "err-text", token: TOKEN });
  // A plugin that throws them, and a config key the agent names in its own error message.
  orch.enqueue(
    execute("thrown", { input_data: { fail: `card ${CARD} ssn ${SSN} key=${SECRET}` } }),
  );
  orch.enqueue(execute("config", { plugin_configuration: { [`card ${CARD}`]: 1 } }));
  const base = join(dir.path, "agent");
  const agent = await command.start(
    command.resolve({
      agent: { id: "err-text", base_folder: base, poll_interval: 200 },
      api: { base_url: orch.url },
      security: { auth: { api_key: TOKEN } },
      plugins: { directory: join(dir.path, "plugins") },
      action: { task_source: "orchestrator" },
      relay: { url: relay.url },
      health: { port: 0 },
      logging: { level: "error" },
    }),
  );
  try {
    await waitFor(
      () => orch.results().length === 2 && events.length === 2,
      30_000,
      "both results, on the orchestrator and the relay",
    );
    const [thrown] = orch.results("thrown");
    const [config] = orch.results("config");
    assert.equal(thrown.body.status, "failed");
    assert.equal(
      thrown.body.error_message,
      "card [CREDIT_CARD_REDACTED] ssn [SSN_REDACTED] key=[REDACTED]",
    );
    assert.equal(config.body.status, "failed");
    assert.match(
      String(config.body.error_message),
      /^config\.card \[CREDIT_CARD_REDACTED\]: unknown field/,
    );
    const byId = new Map(events.map((e) => [e.payload.instruction_id, e.payload]));
    assert.equal(byId.get("thrown")?.error_message, thrown.body.error_message);
    assert.equal(byId.get("config")?.error_message, config.body.error_message);
    // The stored results, which the agent re-sends after a restart.
    const db = new DatabaseSync(join(base, "data/state/agent.db"), { readOnly: true });
    const stored = db.prepare("SELECT result FROM instructions").all().map((r) => r.result);
    db.close();
    assert.equal(stored.length, 2);
    const out = {
      results: orch.results(),
      executing: orch.statusUpdates().map((r) => r.body),
      relay: events.map((e) => e.payload),
      stored,
    };
    for (const [where, value] of Object.entries(out)) {
      const text = JSON.stringify(value);
      for (const leak of [CARD, SSN, SECRET]) assert.ok(!text.includes(leak), `${where}: ${leak}`);
    }
    // The execution log keeps the failure, redacted.
    assert.ok(
      (thrown.body.execution_log as string[]).some((l) =>
        l.includes("failed (error): card [CREDIT_CARD_REDACTED] ssn [SSN_REDACTED]")
      ),
    );
  } finally {
    await agent.close();
    sub.close();
    await client.close();
    await relay.close();
    await orch.close();
    await dir.remove();
  }
});
