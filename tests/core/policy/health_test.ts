/**
 * The decision loop's part of the policy service's `/health`, against a real relay and state
 * file: degraded while the relay is gone (with the latest failure and how many in a row) and ok
 * once it is back, degraded with the reason once
 * the intent subscription failed for good (a handler that keeps throwing), and degraded while a
 * full disk (a tmpfs: root only) holds the intents, ok once every one is decided.
 */
import assert from "node:assert/strict";
import { DEFAULT_POLICY_DIR } from "../../../cmd/policy.ts";
import { command as relayCommand } from "../../../cmd/relay.ts";
import type { Service } from "../../../core/http/mod.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { DecisionBridge } from "../../../core/policy/bridge.ts";
import { loadBundle } from "../../../core/policy/bundle.ts";
import { type Decision, PolicyEngine } from "../../../core/policy/engine.ts";
import { policyHealth } from "../../../core/policy/health.ts";
import { DecisionState } from "../../../core/policy/state.ts";
import { RelayClient } from "../../../core/relay/mod.ts";
import { command as auditCommand } from "../../../cmd/audit.ts";
import { AuditClient } from "../../../core/ledger/client/mod.ts";
import { generateIssuer, issueCredential } from "../../../core/auth/mod.ts";
import { freePort, tempDir, waitFor } from "../../helpers.ts";
import { canMountTmpfs, fill, mountTmpfs } from "../../support/tmpfs.ts";

function startRelay(port = 0): Promise<Service> {
  return relayCommand.start(relayCommand.resolve({ port, workers: 1 }), { log: silentLogger });
}

/** An engine whose every evaluation throws, as a broken bundle or engine would. */
class BrokenEngine extends PolicyEngine {
  override evaluate(): Decision {
    throw new Error("engine out of order");
  }
}

const INTENT = {
  subject: { id: "agent-1" },
  resource: { id: "doc-1", scope: "read" },
  context: { session_risk: 1 },
};

/** A decision loop on `relayUrl` with its own state file (in `onDir` when given) and client. */
async function startLoop(
  relayUrl: string,
  engine?: PolicyEngine,
  onDir?: (dir: string) => void,
  audit?: AuditClient,
) {
  const dir = await tempDir("iatp-policy-health-");
  onDir?.(dir.path);
  const state = new DecisionState(`${dir.path}/state.db`);
  const relay = new RelayClient({
    url: relayUrl,
    log: silentLogger,
    handlerAttempts: 2,
    backoffMinMs: 10,
    backoffMaxMs: 50,
  });
  const bundle = await loadBundle(DEFAULT_POLICY_DIR);
  const bridge = new DecisionBridge({
    relay,
    engine: engine ?? new PolicyEngine(bundle),
    state,
    log: silentLogger,
    redeliverMs: 50,
    audit,
  });
  await bridge.start();
  return {
    bridge,
    state,
    health: () => policyHealth(bridge, "ref", null, undefined, audit),
    close: async (beforeRemove?: () => void) => {
      await bridge.close();
      await relay.close();
      state.close();
      beforeRemove?.();
      await dir.remove();
    },
  };
}

Deno.test("policy /health: degraded while the relay is gone, ok once it is back", async () => {
  let relay = await startRelay();
  const port = Number(new URL(relay.url).port);
  const loop = await startLoop(relay.url);
  try {
    await waitFor(() => loop.health().status === "ok", 20_000, "subscribed");
    await relay.close();
    await waitFor(() => loop.health().status === "degraded", 20_000, "degraded");
    // The latest failure of the run (the relay refusing connections), not the first (its
    // stream ending), with how many connections in a row failed.
    const relayPart = () =>
      (loop.health().components as Record<string, Record<string, unknown>>).relay;
    await waitFor(() => Number(relayPart().failures) >= 3, 20_000, "three failures in a row");
    assert.equal(relayPart().status, "disconnected");
    assert.doesNotMatch(String(loop.health().reason), /stream ended/);
    assert.match(String(loop.health().reason), /^relay: .*(refused|connect)/i);
    relay = await startRelay(port);
    await waitFor(() => loop.health().status === "ok", 20_000, "ok again");
  } finally {
    await loop.close();
    await relay.close();
  }
});

Deno.test("policy /health: degraded while the ledger is out of reach, for the loop and POST /evaluate; ok once it is back", async () => {
  const relay = await startRelay();
  const auditPort = freePort();
  const dir = await tempDir("iatp-policy-health-audit-");
  const audit = new AuditClient({
    url: `http://127.0.0.1:${auditPort}`,
    log: silentLogger,
    attempts: 1,
    timeoutMs: 2_000,
  });
  const loop = await startLoop(relay.url, undefined, undefined, audit);
  const publisher = new RelayClient({ url: relay.url, log: silentLogger });
  let ledger: Service | undefined;
  const part = (name: string) =>
    (loop.health().components as Record<string, Record<string, unknown>>)[name];
  try {
    await waitFor(() => loop.health().status === "ok", 20_000, "subscribed");
    // The loop: the decision is recorded and published, its ledger append fails.
    await publisher.publishNow("access.intent", { tx_id: "held-1", ...INTENT });
    await waitFor(() => part("delivery")?.ok === false, 20_000, "delivery degraded");
    assert.equal(loop.health().status, "degraded");
    assert.match(
      String(part("delivery").reason),
      /not delivered, retried every 50 ms: audit unreachable/,
    );
    assert.doesNotMatch(JSON.stringify(loop.health()), /held-1/, "no tx_id on the open /health");
    // POST /evaluate's appends go through the client's queue, held meanwhile.
    audit.enqueue({ tx_id: "http-1", event: "access.decision", actor: "policy", payload: {} });
    await waitFor(() => part("audit")?.ok === false, 20_000, "audit degraded");
    assert.match(String(part("audit").reason), /wait for the ledger: audit unreachable/);
    assert.equal(part("audit").pending, 1);
    ledger = await auditCommand.start(
      auditCommand.resolve({ port: auditPort, db: `${dir.path}/audit.db`, compat: "iatp" }),
      { log: silentLogger },
    );
    await waitFor(() => loop.health().status === "ok", 30_000, "ok once the ledger is back");
    assert.equal(part("audit"), undefined);
    assert.equal(part("delivery").ok, true);
    assert.equal(audit.pending, 0);
  } finally {
    await publisher.close();
    await loop.close();
    await audit.close(1_000);
    await ledger?.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("policy /health: a subscription stopped at an intent it keeps failing on says why", async () => {
  const relay = await startRelay();
  const bundle = await loadBundle(DEFAULT_POLICY_DIR);
  const loop = await startLoop(relay.url, new BrokenEngine(bundle));
  const publisher = new RelayClient({ url: relay.url, log: silentLogger });
  try {
    await waitFor(() => loop.health().status === "ok", 20_000, "subscribed");
    await publisher.publishNow("access.intent", { tx_id: "t1", ...INTENT });
    await waitFor(() => loop.health().status === "degraded", 20_000, "degraded");
    const h = loop.health();
    const relayPart = (h.components as Record<string, Record<string, unknown>>).relay;
    assert.equal(relayPart.status, "failed");
    assert.match(String(h.reason), /^relay: handler failed 2 times on event .*engine out of order/);
  } finally {
    await publisher.close();
    await loop.close();
    await relay.close();
  }
});

Deno.test({
  name: "policy /health: degraded while a full disk holds the intents, ok once they are decided",
  ignore: !canMountTmpfs(),
}, async () => {
  const relay = await startRelay();
  let fs: { unmount(): void } | undefined;
  let folder = "";
  const loop = await startLoop(relay.url, undefined, (dir) => {
    folder = dir;
    fs = mountTmpfs(dir, "1m");
  });
  const publisher = new RelayClient({ url: relay.url, log: silentLogger });
  try {
    await waitFor(() => loop.health().status === "ok", 20_000, "subscribed");
    const filler = await fill(folder);
    // Each decision takes room; some may still fit in pages SQLite holds.
    let sent = 0;
    for (let i = 0; i < 50 && loop.health().status === "ok"; i++, sent++) {
      await publisher.publishNow("access.intent", { tx_id: `full-${i}`, ...INTENT });
      await waitFor(
        () => loop.state.decided(`full-${i}`) || loop.health().status !== "ok",
        20_000,
        "decided or held",
      );
    }
    const h = loop.health();
    assert.equal(h.status, "degraded");
    assert.equal(h.reason, "state: decision not recorded: database or disk is full");
    await Deno.remove(filler);
    await waitFor(() => loop.health().status === "ok", 20_000, "ok once the store has room");
    for (let i = 0; i < sent; i++) assert.ok(loop.state.decided(`full-${i}`), `full-${i} decided`);
  } finally {
    await publisher.close();
    await loop.close(() => fs?.unmount());
    await relay.close();
  }
});

Deno.test("policy /health: degraded while the ledger refuses POST /evaluate's appends for good; ok once it takes one", async () => {
  const dir = await tempDir("iatp-policy-health-refused-");
  const issuer = await generateIssuer();
  const ledger = await auditCommand.start(
    auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db`, auth_keys: [issuer.publicKey] }),
    { log: silentLogger },
  );
  const without = await issueCredential(issuer, { sub: "policy", scopes: ["publish:x"] });
  const withScope = await issueCredential(issuer, { sub: "policy", scopes: ["audit:append"] });
  const clients: AuditClient[] = [];
  const client = (token: string) => {
    const c = new AuditClient({ url: ledger.url, token, log: silentLogger, attempts: 1 });
    clients.push(c);
    return c;
  };
  const entry = { tx_id: "eval-1", event: "access.decision", actor: "policy", payload: {} };
  try {
    const refused = client(without);
    assert.equal(policyHealth(undefined, "ref", null, undefined, refused).status, "ok");
    refused.enqueue(entry);
    await refused.flush();
    const h = policyHealth(undefined, "ref", null, undefined, refused);
    assert.equal(h.status, "degraded");
    assert.match(
      String(h.reason),
      /^audit: the latest decision of POST \/evaluate was refused by the ledger and dropped: .*403/,
    );
    assert.ok(!JSON.stringify(h).includes(without), "the credential is never shown");
    // A refusal of another kind (an entry the ledger cannot take) clears once one is taken.
    const taken = client(withScope);
    taken.enqueue({ ...entry, tx_id: "x".repeat(5_000) });
    await taken.flush();
    assert.equal(policyHealth(undefined, "ref", null, undefined, taken).status, "degraded");
    taken.enqueue(entry);
    await taken.flush();
    assert.equal(policyHealth(undefined, "ref", null, undefined, taken).status, "ok");
  } finally {
    for (const c of clients) await c.close();
    await ledger.close();
    await dir.remove();
  }
});
