/**
 * The decision loop against a real relay and ledger: a decision the relay refuses for good is
 * still audited, is not retried, and does not hold up the decisions after it; a decision the
 * state store cannot record holds the stream at that intent until it can.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { command as auditCommand } from "../../../cmd/audit.ts";
import { DEFAULT_POLICY_DIR } from "../../../cmd/policy.ts";
import { command as relayCommand } from "../../../cmd/relay.ts";
import { AuditClient } from "../../../core/ledger/mod.ts";
import { createLogger, silentLogger } from "../../../core/log/mod.ts";
import { DecisionBridge } from "../../../core/policy/bridge.ts";
import { loadBundle } from "../../../core/policy/bundle.ts";
import { PolicyEngine } from "../../../core/policy/engine.ts";
import { DecisionState } from "../../../core/policy/state.ts";
import { RelayClient } from "../../../core/relay/mod.ts";
import { tempDir, waitFor } from "../../helpers.ts";

const POLICY_TOKEN = "policy-token-0001";
const PUBLISHER_TOKEN = "publisher-token-0002";
const POLICY_READER_TOKEN = "reader-token-0003";

Deno.test("a decision the relay refuses (403) is audited, not retried, and blocks nothing", async () => {
  const dir = await tempDir();
  // The policy's token may read intents but not publish decisions: every publish is a 403.
  const relay = await relayCommand.start(
    relayCommand.resolve({
      port: 0,
      workers: 1,
      tokens: {
        [POLICY_TOKEN]: ["subscribe:access.intent"],
        [PUBLISHER_TOKEN]: ["publish:access.intent"],
      },
    }),
    { log: silentLogger },
  );
  const audit = await auditCommand.start(
    auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db`, compat: "iatp" }),
    { log: silentLogger },
  );
  const lines: string[] = [];
  const log = createLogger({ service: "policy", level: "debug", sink: (l) => lines.push(l) });
  const state = new DecisionState(`${dir.path}/state.db`);
  const bridgeRelay = new RelayClient({ url: relay.url, token: POLICY_TOKEN, log: silentLogger });
  const auditClient = new AuditClient({ url: audit.url });
  const bridge = new DecisionBridge({
    relay: bridgeRelay,
    audit: auditClient,
    engine: new PolicyEngine(await loadBundle(DEFAULT_POLICY_DIR)),
    state,
    log,
    redeliverMs: 50,
  });
  const publisher = new RelayClient({ url: relay.url, token: PUBLISHER_TOKEN });
  try {
    await bridge.start();
    for (const tx of ["r1", "r2", "r3"]) {
      await publisher.publishNow("access.intent", { tx_id: tx, context: { session_risk: 1 } });
    }
    for (const tx of ["r1", "r2", "r3"]) {
      await waitFor(
        async () => (await (await fetch(`${audit.url}/tx/${tx}`)).json()).entries.length === 1,
        20_000,
        `audit entry for ${tx}`,
      );
    }
    assert.deepEqual(state.undelivered(10), [], "nothing is left to retry");
    const refused = lines.filter((l) => l.includes("decision refused; not retried"));
    assert.equal(refused.length, 3, "one refusal logged per decision, no retry storm");
  } finally {
    await bridge.close();
    await publisher.close();
    await bridgeRelay.close();
    await auditClient.close();
    state.close();
    await audit.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("a decision the state store cannot record holds the stream there; every intent is decided once it can", async () => {
  const dir = await tempDir();
  const relay = await relayCommand.start(
    relayCommand.resolve({
      port: 0,
      workers: 1,
      tokens: {
        [POLICY_TOKEN]: ["subscribe:access.intent", "publish:access.decision"],
        [PUBLISHER_TOKEN]: ["publish:access.intent"],
      },
    }),
    { log: silentLogger },
  );
  const lines: string[] = [];
  const log = createLogger({ service: "policy", level: "debug", sink: (l) => lines.push(l) });
  const file = `${dir.path}/state.db`;
  const state = new DecisionState(file);
  const bridgeRelay = new RelayClient({ url: relay.url, token: POLICY_TOKEN, log });
  const bridge = new DecisionBridge({
    relay: bridgeRelay,
    engine: new PolicyEngine(await loadBundle(DEFAULT_POLICY_DIR)),
    state,
    log,
    redeliverMs: 50,
  });
  const publisher = new RelayClient({ url: relay.url, token: PUBLISHER_TOKEN });
  // Another writer holds the database: every write of the loop fails, as on a full disk.
  const holder = new DatabaseSync(file);
  try {
    await bridge.start();
    holder.exec("BEGIN EXCLUSIVE");
    const txs = ["h1", "h2", "h3"];
    for (const tx of txs) {
      await publisher.publishNow("access.intent", { tx_id: tx, context: { session_risk: 1 } });
    }
    await waitFor(
      () => lines.some((l) => l.includes("database is locked")),
      20_000,
      "a failed write",
    );
    assert.ok(txs.every((tx) => !state.decided(tx)), "nothing recorded while the store fails");
    holder.exec("COMMIT");
    await waitFor(() => txs.every((tx) => state.decided(tx)), 20_000, "every intent decided");
    await waitFor(() => state.undelivered(10).length === 0, 20_000, "every decision delivered");
  } finally {
    holder.close();
    await bridge.close();
    await publisher.close();
    await bridgeRelay.close();
    state.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("a decision the ledger could not take is delivered by the retry timer, without a restart", async () => {
  const dir = await tempDir();
  const relay = await relayCommand.start(
    relayCommand.resolve({
      port: 0,
      workers: 1,
      tokens: {
        [POLICY_TOKEN]: ["subscribe:access.intent", "publish:access.decision"],
        [PUBLISHER_TOKEN]: ["publish:access.intent"],
        [POLICY_READER_TOKEN]: ["subscribe:access.decision"],
      },
    }),
    { log: silentLogger },
  );
  const audit = await auditCommand.start(
    auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db`, compat: "iatp" }),
    { log: silentLogger },
  );
  // The ledger answers 503 until it is let through: the decision's first delivery fails.
  let open = false;
  const gate = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      if (!open) return new Response("down", { status: 503 });
      const u = new URL(req.url);
      return await fetch(`${audit.url}${u.pathname}${u.search}`, {
        method: req.method,
        headers: req.headers,
        body: req.method === "GET" ? undefined : await req.arrayBuffer(),
      });
    },
  );
  const lines: string[] = [];
  const log = createLogger({ service: "policy", level: "debug", sink: (l) => lines.push(l) });
  const state = new DecisionState(`${dir.path}/state.db`);
  const bridgeRelay = new RelayClient({ url: relay.url, token: POLICY_TOKEN, log: silentLogger });
  const auditClient = new AuditClient({
    url: `http://127.0.0.1:${gate.addr.port}`,
    attempts: 1,
  });
  const bridge = new DecisionBridge({
    relay: bridgeRelay,
    audit: auditClient,
    engine: new PolicyEngine(await loadBundle(DEFAULT_POLICY_DIR)),
    state,
    log,
    redeliverMs: 50,
  });
  const publisher = new RelayClient({ url: relay.url, token: PUBLISHER_TOKEN });
  try {
    await bridge.start(); // nothing to re-deliver yet
    await publisher.publishNow("access.intent", { tx_id: "g1", context: { session_risk: 1 } });
    await waitFor(
      () => lines.some((l) => l.includes("decision not delivered yet")),
      20_000,
      "a failed delivery",
    );
    open = true;
    await waitFor(
      async () => (await (await fetch(`${audit.url}/tx/g1`)).json()).entries.length === 1,
      20_000,
      "the ledger entry of g1",
    );
    await waitFor(() => state.undelivered(10).length === 0, 20_000, "g1 marked delivered");
    // The relay took the decision the first time: the retry appends it, never publishes it again.
    const seen: string[] = [];
    const reader = new RelayClient({ url: relay.url, token: POLICY_READER_TOKEN });
    const sub = reader.subscribe(["access.decision"], (e) => {
      seen.push(String(e.payload.tx_id));
    }, { since: "0" });
    try {
      await publisher.publishNow("access.intent", { tx_id: "g2", context: { session_risk: 1 } });
      await waitFor(() => seen.includes("g2"), 20_000, "the decision after g1's");
      assert.deepEqual(seen.filter((t) => t === "g1"), ["g1"], "g1 published once");
    } finally {
      sub.close();
      await reader.close();
    }
  } finally {
    await bridge.close();
    await publisher.close();
    await bridgeRelay.close();
    await auditClient.close();
    state.close();
    await gate.shutdown();
    await audit.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("intents the relay evicted while the loop was away are reported, not passed over in silence", async () => {
  const dir = await tempDir();
  const relay = await relayCommand.start(
    relayCommand.resolve({
      port: 0,
      workers: 1,
      retention_events: 2,
      tokens: {
        [POLICY_TOKEN]: ["subscribe:access.intent", "publish:access.decision"],
        [PUBLISHER_TOKEN]: ["publish:access.intent"],
      },
    }),
    { log: silentLogger },
  );
  const lines: string[] = [];
  const log = createLogger({ service: "policy", level: "debug", sink: (l) => lines.push(l) });
  const state = new DecisionState(`${dir.path}/state.db`);
  const engine = new PolicyEngine(await loadBundle(DEFAULT_POLICY_DIR));
  const publisher = new RelayClient({ url: relay.url, token: PUBLISHER_TOKEN });
  const clients: RelayClient[] = [];
  const bridgeOn = () => {
    const client = new RelayClient({ url: relay.url, token: POLICY_TOKEN, log: silentLogger });
    clients.push(client);
    return new DecisionBridge({ relay: client, engine, state, log, redeliverMs: 50 });
  };
  try {
    const first = bridgeOn();
    await first.start();
    await publisher.publishNow("access.intent", { tx_id: "e0", context: { session_risk: 1 } });
    await waitFor(() => state.decided("e0"), 20_000, "e0 decided");
    await first.close();
    // While the loop is away, more intents arrive than the relay keeps.
    for (const tx of ["e1", "e2", "e3", "e4", "e5"]) {
      await publisher.publishNow("access.intent", { tx_id: tx, context: { session_risk: 1 } });
    }
    const second = bridgeOn();
    await second.start();
    try {
      await waitFor(() => state.decided("e5"), 20_000, "e5 decided");
      await waitFor(
        () => lines.some((l) => l.includes("intents may have been lost")),
        20_000,
        "the gap reported",
      );
      assert.equal(state.decided("e1"), false, "an evicted intent cannot be decided");
    } finally {
      await second.close();
    }
  } finally {
    await publisher.close();
    for (const c of clients) await c.close();
    state.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("a state file written before the published column opens, and keeps its decisions", async () => {
  const dir = await tempDir();
  try {
    const file = `${dir.path}/old.db`;
    const old = new DatabaseSync(file);
    old.exec(`CREATE TABLE decided (seq INTEGER PRIMARY KEY AUTOINCREMENT, tx_id TEXT NOT NULL
      UNIQUE, decision TEXT NOT NULL, delivered INTEGER NOT NULL DEFAULT 0);
      INSERT INTO decided (tx_id, decision) VALUES ('o1', '{"tx_id":"o1"}');`);
    old.close();
    const state = new DecisionState(file);
    try {
      assert.equal(state.pending("o1"), true);
      assert.equal(state.isPublished("o1"), false);
      state.markPublished("o1");
      assert.equal(state.isPublished("o1"), true);
    } finally {
      state.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("decisions of tx_ids no HTTP header can carry as they are still reach the ledger", async () => {
  const dir = await tempDir();
  const relay = await relayCommand.start(
    relayCommand.resolve({
      port: 0,
      workers: 1,
      tokens: {
        [POLICY_TOKEN]: ["subscribe:access.intent", "publish:access.decision"],
        [PUBLISHER_TOKEN]: ["publish:access.intent"],
      },
    }),
    { log: silentLogger },
  );
  const audit = await auditCommand.start(
    auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db`, compat: "iatp" }),
    { log: silentLogger },
  );
  const state = new DecisionState(`${dir.path}/state.db`);
  const bridgeRelay = new RelayClient({ url: relay.url, token: POLICY_TOKEN, log: silentLogger });
  const auditClient = new AuditClient({ url: audit.url, attempts: 1 });
  const bridge = new DecisionBridge({
    relay: bridgeRelay,
    audit: auditClient,
    engine: new PolicyEngine(await loadBundle(DEFAULT_POLICY_DIR)),
    state,
    log: silentLogger,
    redeliverMs: 50,
  });
  const publisher = new RelayClient({ url: relay.url, token: PUBLISHER_TOKEN });
  // Not Latin-1, a control character, and long enough that the prefixed key passes 256 chars.
  const txs = ["注文-1", "line\nbreak", "x".repeat(250)];
  try {
    await bridge.start();
    for (const tx of txs) {
      await publisher.publishNow("access.intent", { tx_id: tx, context: { session_risk: 1 } });
    }
    for (const tx of txs) {
      await waitFor(
        async () =>
          (await (await fetch(`${audit.url}/tx/${encodeURIComponent(tx)}`)).json()).entries
            .length === 1,
        20_000,
        `the ledger entry of ${JSON.stringify(tx.slice(0, 12))}`,
      );
    }
    assert.deepEqual(state.undelivered(10), [], "nothing left undelivered");
  } finally {
    await bridge.close();
    await publisher.close();
    await bridgeRelay.close();
    await auditClient.close();
    state.close();
    await audit.close();
    await relay.close();
    await dir.remove();
  }
});
