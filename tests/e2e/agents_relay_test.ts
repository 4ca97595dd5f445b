/**
 * End-to-end: relay-driven work. `iatp action` with no orchestrator takes instructions from the
 * real relay's `action.tasks.<agent_id>` (published with a credential, so the relay names the
 * publisher), publishes decision-free results to `action.results`, and resumes its subscription
 * from the persisted position after a restart.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { auditLines, writeConfig, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { type ChildService, startIatpService, tempDir, waitFor } from "../helpers.ts";

function task(id: string, echo: string) {
  return {
    id,
    plugin_id: "echo-action",
    instruction_type: "execute",
    input_data: { echo },
    timeout_seconds: 30,
  };
}

Deno.test("action e2e: relay tasks run once, results go to action.results, the position survives restarts", async () => {
  const dir = await tempDir("iatp-relay-e2e-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const env = { IATP_DATA_DIR: dir.path };
  const tokens = {
    "ops-token-0001": ["publish:action.tasks.*", "subscribe:action.results"],
    "agent-token-001": ["subscribe:action.tasks.relay-act", "publish:action.results"],
  };
  const relay = await startIatpService(["relay", "--port", "0"], {
    env: { ...env, IATP_RELAY_TOKENS: JSON.stringify(tokens) },
  });
  // The agent reads its credential from a file (relay.token: file:PATH).
  await Deno.writeTextFile(join(dir.path, "agent.token"), "agent-token-001\n");
  const auditSvc = await startIatpService([
    "audit",
    "--port",
    "0",
    "--db",
    join(dir.path, "audit.db"),
  ], { env });
  const client = new RelayClient({ url: relay.url, token: "ops-token-0001" });
  const results: RelayEvent[] = [];
  const sub = client.subscribe(["action.results"], (e) => {
    results.push(e);
  }, { since: "0" });
  const base = join(dir.path, "agent");
  const cfg = await writeConfig(dir.path, "action.yaml", {
    agent: { id: "relay-act", base_folder: base },
    plugins: { directory: join(dir.path, "plugins") },
    health: { port: 0 },
    relay: { url: relay.url, token: `file:${join(dir.path, "agent.token")}` },
    security: { audit: { service_url: auditSvc.url } },
  });
  let agent: ChildService | undefined;
  try {
    await client.publishNow("action.tasks.relay-act", task("rt-1", "one"));
    await client.publishNow("action.tasks.someone-else", task("rt-x", "not mine"));
    agent = await startIatpService(["action", "--config", cfg], { env });
    await waitFor(() => results.length >= 1, 30_000, "first result");
    const r = results[0].payload;
    assert.equal(r.instruction_id, "rt-1");
    assert.equal(r.status, "completed");
    assert.equal(r.agent_id, "relay-act");
    assert.equal(r.error_type, null);
    assert.equal(typeof r.duration_ms, "number");
    assert.deepEqual(r.result, { echo: "one", token: "" });
    assert.equal("decision" in r, false);
    // The audit trail is copied to the audit service, keyed by instruction id.
    let entries: Array<{ event: string; actor: string }> = [];
    await waitFor(
      async () => {
        const res = await fetch(`${auditSvc.url}/tx/rt-1`);
        entries = res.ok ? await res.json() : (await res.body?.cancel(), []); // the ledger's list
        return entries.length >= 3;
      },
      30_000,
      "audit service entries",
    );
    assert.deepEqual(entries.map((e) => e.event).slice(0, 3), [
      "agent.instruction.received",
      "agent.instruction.executed",
      "agent.result.reported",
    ]);
    assert.equal(entries[0].actor, "action:relay-act");
    await agent.stop("SIGTERM");
    // While it is down: a new task, a redelivery of rt-1, and an invalid task.
    await client.publishNow("action.tasks.relay-act", task("rt-2", "two"));
    await client.publishNow("action.tasks.relay-act", task("rt-1", "one again"));
    await client.publishNow("action.tasks.relay-act", { id: "rt-bad", instruction_type: 42 });
    agent = await startIatpService(["action", "--config", cfg], { env });
    await waitFor(() => results.length >= 3, 30_000, "rt-2 and rt-bad results");
    const byId = Object.fromEntries(results.map((e) => [e.payload.instruction_id, e.payload]));
    assert.equal(byId["rt-2"].status, "completed");
    assert.equal(byId["rt-bad"].status, "failed");
    assert.equal(byId["rt-bad"].error_type, "invalid_request");
    assert.equal(results.filter((e) => e.payload.instruction_id === "rt-1").length, 1);
    await agent.stop("SIGTERM");
    // Resumed, not replayed from the start: only the redelivered rt-1 was seen as a duplicate
    // (a replay from the beginning would have seen the first rt-1 again too), and rt-1 ran once.
    const audit = await auditLines(base);
    const dup = audit.filter((l) => l.event === "instruction.duplicate");
    assert.equal(dup.length, 1);
    const executed = audit.filter((l) => l.event === "instruction.executed")
      .map((l) => (l.data as { instruction_id: string }).instruction_id);
    assert.deepEqual(executed.sort(), ["rt-1", "rt-2"]);
  } finally {
    sub.close();
    await client.close();
    await agent?.stop("SIGKILL");
    await relay.stop("SIGTERM");
    await auditSvc.stop("SIGTERM");
    await dir.remove();
  }
});
