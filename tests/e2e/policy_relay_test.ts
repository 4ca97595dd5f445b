/**
 * Relay-driven decisions end to end: a real relay and ledger in-process, the policy service as
 * a real child process restarted mid-stream; every tx_id gets exactly one decision, published
 * and audited, and a replayed or re-sent intent is not decided again.
 */
import assert from "node:assert/strict";
import { command as auditCommand, start as startAudit } from "../../cmd/audit.ts";
import { command as relayCommand, start as startRelay } from "../../cmd/relay.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";
import { refVerifyReceipt } from "../core/ledger/rfc6962_reference.ts";

const intent = (tx: string, risk: unknown = 42) => ({
  tx_id: tx,
  subject: { enterprise: "A", id: "agent", roles: [] },
  resource: { enterprise: "B", id: "doc", scope: "read" },
  context: { session_risk: risk },
});

Deno.test("access.intent -> exactly one access.decision per tx_id across a restart", async () => {
  const dir = await tempDir("iatp-policy-e2e-");
  const relay = await startRelay(relayCommand.resolve({ port: 0 }), { log: silentLogger });
  const audit = await startAudit(auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db` }), {
    log: silentLogger,
  });
  const client = new RelayClient({ url: relay.url });
  const decisions: RelayEvent[] = [];
  const sub = client.subscribe(["access.decision"], (e) => void decisions.push(e), { since: "0" });
  const decided = (tx: string) => decisions.filter((d) => d.payload.tx_id === tx);
  const args = [
    "policy",
    "--port",
    "0",
    "--relay-url",
    relay.url,
    "--audit-url",
    audit.url,
    "--state-db",
    `${dir.path}/policy-state.db`,
  ];
  const env = { IATP_DATA_DIR: dir.path };
  let policy = await startIatpService(args, { env });
  try {
    for (const tx of ["t1", "t2"]) await client.publishNow("access.intent", intent(tx));
    await client.publishNow("access.intent", intent("t3", 60));
    await client.publishNow("access.intent", intent("t4", "42")); // malformed: string risk
    // Intents the engine cannot evaluate: before, they got no decision at all.
    const lone = { ...intent("t7"), subject: { enterprise: "A", id: "\ud800", roles: [] } };
    await client.publishNow("access.intent", lone);
    const badTx = await client.publishNow("access.intent", intent("\udc00-tx"));
    await waitFor(
      () => ["t1", "t2", "t3", "t4", "t7", badTx.event_id].every((t) => decided(t).length > 0),
      30_000,
      "first decisions",
    );
    assert.equal(decided("t1")[0].payload.decision, "allow");
    assert.equal(decided("t1")[0].payload.risk_after, 37);
    assert.equal(decided("t3")[0].payload.decision, "deny");
    assert.equal(decided("t4")[0].payload.decision, "deny");
    for (const tx of ["t7", badTx.event_id]) {
      // compat upstream: explanation is a sentence, its detail beside it.
      const d = decided(tx)[0].payload as {
        decision: string;
        explanation: string;
        explanation_detail: { errors: unknown[] };
      };
      assert.equal(d.decision, "deny", tx);
      assert.match(JSON.stringify(d.explanation_detail.errors), /lone UTF-16 surrogate/, tx);
      assert.equal(typeof d.explanation, "string");
    }

    await policy.stop("SIGTERM");
    // While it is down: a new intent and a re-sent one.
    await client.publishNow("access.intent", intent("t5"));
    await client.publishNow("access.intent", intent("t2"));
    policy = await startIatpService(args, { env });
    await client.publishNow("access.intent", intent("t6"));
    await waitFor(() => decided("t6").length > 0, 30_000, "decision after restart");
    // Intents are handled in order, so once the sentinel is decided everything before it was too.
    await client.publishNow("access.intent", intent("sentinel"));
    await waitFor(() => decided("sentinel").length > 0, 30_000, "sentinel decision");

    for (const tx of ["t1", "t2", "t3", "t4", "t5", "t6", "t7", badTx.event_id, "sentinel"]) {
      assert.equal(decided(tx).length, 1, `decisions for ${tx}`);
    }
    const vkey =
      (await (await fetch(`${audit.url}/checkpoint`, { headers: { accept: "application/json" } }))
        .json()).vkey;
    for (const tx of ["t1", "t2", "t5", "t7"]) {
      await waitFor(
        async () => (await (await fetch(`${audit.url}/tx/${tx}`)).json()).length > 0,
        30_000,
        `audit of ${tx}`,
      );
      // The ledger's list (compat upstream): `ts` float seconds, the signed time as `ts_iso`.
      const entries = await (await fetch(`${audit.url}/tx/${tx}`)).json();
      assert.equal(entries.length, 1, `ledger entries for ${tx}`);
      assert.equal(entries[0].payload.decision, tx === "t7" ? "deny" : "allow");
      const signed = { ...entries[0], ts: entries[0].ts_iso };
      assert.ok(await refVerifyReceipt(signed, entries[0].receipt, vkey));
    }
  } finally {
    sub.close();
    await policy.stop("SIGTERM");
    await client.close();
    await audit.close();
    await relay.close();
    await dir.remove();
  }
});
