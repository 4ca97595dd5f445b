import assert from "node:assert/strict";
import { command as auditCommand } from "../../../cmd/audit.ts";
import { command as relayCommand } from "../../../cmd/relay.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { RelayClient, type RelayEvent } from "../../../core/relay/mod.ts";
import { tempDir, waitFor } from "../../helpers.ts";
import { post, startAgent, startSidecar } from "./fixtures.ts";

Deno.test("decisions reach the real relay (iatp.trace) and audit ledger, scrubbed", async () => {
  const dir = await tempDir();
  const agent = startAgent();
  const relay = await relayCommand.start(relayCommand.resolve({ port: 0, workers: 1 }), {
    log: silentLogger,
  });
  const audit = await auditCommand.start(
    auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db` }),
    { log: silentLogger },
  );
  const sc = await startSidecar({
    agent_url: agent.url,
    relay_url: relay.url,
    audit_url: audit.url,
    retention: "permanent",
    trust_level: "verified_partner",
    reversibility: "none",
  });
  const client = new RelayClient({ url: relay.url });
  const events: RelayEvent[] = [];
  const sub = client.subscribe(["iatp.trace"], (e) => {
    events.push(e);
  });
  try {
    const blocked = await post(sc.url, { card: "4532 0151 1283 0366" }, {
      "X-Agent-Trace-ID": "ev-block",
    });
    assert.equal(blocked.status, 403);
    const allowed = await post(sc.url, { q: 1 }, { "X-Agent-Trace-ID": "ev-allow" });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get("x-agent-quarantined"), "true", "irreversible + permanent");
    await waitFor(() => events.length >= 5, 20_000, "relay events");
    const byType = (trace: string) =>
      events.filter((e) => e.payload.trace_id === trace).map((e) => e.payload.type);
    assert.deepEqual(byType("ev-block"), ["request", "blocked"]);
    assert.deepEqual(byType("ev-allow"), ["request", "quarantine", "response"]);
    const block = events.find((e) => e.payload.type === "blocked")!;
    assert.equal(block.payload.decision, "block");
    assert.equal(block.payload.status, 403);
    assert.equal(block.payload.agent_id, "default-agent");
    const allow = events.find((e) => e.payload.type === "response")!;
    assert.equal(allow.payload.decision, "allow");
    assert.ok(!JSON.stringify(events).includes("4532"), "relay payloads are scrubbed");
    await waitFor(
      async () => {
        const r = await fetch(`${audit.url}/tx/ev-block`);
        const body = await r.json();
        return r.status === 200 && body.length === 1; // the ledger's list (compat upstream)
      },
      20_000,
      "audit entry",
    );
    const [entry] = await (await fetch(`${audit.url}/tx/ev-block`)).json();
    assert.equal(entry.event, "iatp.block");
    assert.equal(entry.payload.decision, "block");
  } finally {
    sub.close();
    await client.close();
    await sc.close();
    await audit.close();
    await relay.close();
    await agent.close();
    await dir.remove();
  }
});

Deno.test("a dead relay and ledger never block or fail requests", async () => {
  const agent = startAgent();
  const sc = await startSidecar({
    agent_url: agent.url,
    relay_url: "http://127.0.0.1:9",
    audit_url: "http://127.0.0.1:9",
  });
  try {
    for (let i = 0; i < 20; i++) assert.equal((await post(sc.url, { i })).status, 200);
  } finally {
    await sc.close();
    await agent.close();
  }
});
