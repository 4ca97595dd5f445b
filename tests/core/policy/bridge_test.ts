/**
 * The decision loop against a real relay and ledger: a decision the relay refuses for good is
 * still audited, is not retried, and does not hold up the decisions after it; a decision the
 * state store cannot record holds the stream at that intent until it can, with `/health`
 * degraded meanwhile.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { command as auditCommand } from "../../../cmd/audit.ts";
import { DEFAULT_POLICY_DIR } from "../../../cmd/policy.ts";
import { command as relayCommand } from "../../../cmd/relay.ts";
import { AuditClient } from "../../../core/ledger/client/mod.ts";
import { createLogger, silentLogger } from "../../../core/log/mod.ts";
import { DecisionBridge, deliverDecision } from "../../../core/policy/bridge.ts";
import { policyHealth } from "../../../core/policy/health.ts";
import { loadBundle } from "../../../core/policy/bundle.ts";
import { PolicyEngine } from "../../../core/policy/engine.ts";
import { DecisionState } from "../../../core/policy/state.ts";
import { RelayClient } from "../../../core/relay/mod.ts";
import { tempDir, waitFor } from "../../helpers.ts";

const POLICY_TOKEN = "policy-token-0001";
const PUBLISHER_TOKEN = "publisher-token-0002";
const POLICY_READER_TOKEN = "reader-token-0003";
const INTENT = { context: { session_risk: 1 } };

/** What differs between the rigs of the tests below. */
interface RigOptions {
  /** Scopes of the decision loop's token (default: read intents, publish decisions). */
  policyScopes?: string[];
  /** Also a token that may read the decisions ({@linkcode POLICY_READER_TOKEN}). */
  decisionReader?: boolean;
  /** Events the relay keeps per topic (its default when unset). */
  retention?: number;
  /**
   * A ledger the loop appends to (none when unset): `gated` puts it behind a gate answering
   * 503 until {@linkcode Rig.openGate}; `attempts` is the audit client's.
   */
  audit?: { gated?: boolean; attempts?: number };
}

/** A relay, an optional ledger, the state store and a publisher of intents, closed as one. */
interface Rig {
  relayUrl: string;
  /** The ledger itself (not the gate in front of it); "" without one. */
  auditUrl: string;
  stateFile: string;
  state: DecisionState;
  /** Every line the decision loops logged. */
  lines: string[];
  /** A decision loop on a relay client of its own (closed by `close`). */
  bridge(): DecisionBridge;
  /** Publishes one intent for `tx`. */
  intent(tx: string): Promise<void>;
  /** Lets requests through the ledger's gate. */
  openGate(): void;
  close(): Promise<void>;
}

/** Starts a relay (and a ledger when asked), a state store and a publisher. */
async function startRig(opts: RigOptions = {}): Promise<Rig> {
  const dir = await tempDir();
  const relay = await startRelay(opts);
  const audit = opts.audit && await auditCommand.start(
    auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db`, compat: "iatp" }),
    { log: silentLogger },
  );
  let open = false;
  const gate = audit && opts.audit?.gated ? gateTo(audit.url, () => open) : undefined;
  const auditClient = audit && new AuditClient({
    url: gate ? `http://127.0.0.1:${gate.addr.port}` : audit.url,
    attempts: opts.audit?.attempts,
  });
  const lines: string[] = [];
  const log = createLogger({ service: "policy", level: "debug", sink: (l) => lines.push(l) });
  const stateFile = `${dir.path}/state.db`;
  const state = new DecisionState(stateFile);
  const engine = new PolicyEngine(await loadBundle(DEFAULT_POLICY_DIR));
  const publisher = new RelayClient({ url: relay.url, token: PUBLISHER_TOKEN });
  const loops: Array<{ bridge: DecisionBridge; client: RelayClient }> = [];
  return {
    relayUrl: relay.url,
    auditUrl: audit ? audit.url : "",
    stateFile,
    state,
    lines,
    bridge: () => {
      const client = new RelayClient({ url: relay.url, token: POLICY_TOKEN, log: silentLogger });
      const loop = { relay: client, audit: auditClient, engine, state, log, redeliverMs: 50 };
      const bridge = new DecisionBridge(loop);
      loops.push({ bridge, client });
      return bridge;
    },
    intent: async (tx) => {
      await publisher.publishNow("access.intent", { tx_id: tx, ...INTENT });
    },
    openGate: () => {
      open = true;
    },
    close: async () => {
      for (const l of loops) await l.bridge.close();
      await publisher.close();
      for (const l of loops) await l.client.close();
      await auditClient?.close();
      state.close();
      await gate?.shutdown();
      await audit?.close();
      await relay.close();
      await dir.remove();
    },
  };
}

/** The relay: the loop's, the publisher's and (when asked) the decision reader's tokens. */
function startRelay(opts: RigOptions): ReturnType<typeof relayCommand.start> {
  const tokens: Record<string, string[]> = {
    [POLICY_TOKEN]: opts.policyScopes ?? ["subscribe:access.intent", "publish:access.decision"],
    [PUBLISHER_TOKEN]: ["publish:access.intent"],
  };
  if (opts.decisionReader) tokens[POLICY_READER_TOKEN] = ["subscribe:access.decision"];
  return relayCommand.start(
    relayCommand.resolve({ port: 0, workers: 1, retention_events: opts.retention, tokens }),
    { log: silentLogger },
  );
}

/** A proxy to `target` that answers 503 while `isOpen` says no. */
function gateTo(target: string, isOpen: () => boolean): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (!isOpen()) return new Response("down", { status: 503 });
    const u = new URL(req.url);
    return await fetch(`${target}${u.pathname}${u.search}`, {
      method: req.method,
      headers: req.headers,
      body: req.method === "GET" ? undefined : await req.arrayBuffer(),
    });
  });
}

/** Whether the ledger at `url` holds one entry for `tx`. */
async function ledgerHas(url: string, tx: string): Promise<boolean> {
  const res = await fetch(`${url}/tx/${encodeURIComponent(tx)}`);
  return (await res.json()).entries.length === 1;
}

Deno.test("a decision the relay refuses (403) is audited, not retried, blocks nothing, and /health says so", async () => {
  // The policy's token may read intents but not publish decisions: every publish is a 403.
  const rig = await startRig({ policyScopes: ["subscribe:access.intent"], audit: {} });
  try {
    const bridge = rig.bridge();
    await bridge.start();
    for (const tx of ["r1", "r2", "r3"]) await rig.intent(tx);
    for (const tx of ["r1", "r2", "r3"]) {
      await waitFor(() => ledgerHas(rig.auditUrl, tx), 20_000, `audit entry for ${tx}`);
    }
    assert.deepEqual(rig.state.undelivered(10), [], "nothing is left to retry");
    const refused = rig.lines.filter((l) => l.includes("decision refused; not retried"));
    assert.equal(refused.length, 3, "one refusal logged per decision, no retry storm");
    // Every decision is lost to the relay while the credential lacks the scope: an operator
    // checking /health learns it there, not only from the log.
    const health = policyHealth(bridge, "ref");
    assert.equal(health.status, "degraded");
    assert.match(
      JSON.stringify(bridge.health().delivery),
      /"ok":false.*refused, logged and not retried: .*lacks scope publish:access\.decision/,
    );
  } finally {
    await rig.close();
  }
});

Deno.test("a decision the state store cannot record holds the stream there; every intent is decided once it can", async () => {
  const rig = await startRig();
  const { state, lines } = rig;
  // Another writer holds the database: every write of the loop fails, as on a full disk.
  const holder = new DatabaseSync(rig.stateFile);
  const bridge = rig.bridge();
  const health = () => policyHealth(bridge, "ref");
  try {
    await bridge.start();
    await waitFor(() => health().status === "ok", 20_000, "subscribed");
    holder.exec("BEGIN EXCLUSIVE");
    const txs = ["h1", "h2", "h3"];
    for (const tx of txs) await rig.intent(tx);
    await waitFor(
      () => lines.some((l) => l.includes("database is locked")),
      20_000,
      "a failed write",
    );
    assert.ok(txs.every((tx) => !state.decided(tx)), "nothing recorded while the store fails");
    const held = health();
    assert.equal(held.status, "degraded");
    assert.equal(held.reason, "state: decision not recorded: database is locked");
    holder.exec("COMMIT");
    await waitFor(() => txs.every((tx) => state.decided(tx)), 20_000, "every intent decided");
    await waitFor(() => health().status === "ok", 20_000, "ok once the store takes decisions");
    await waitFor(() => state.undelivered(10).length === 0, 20_000, "every decision delivered");
  } finally {
    holder.close();
    await rig.close();
  }
});

Deno.test("a decision the ledger could not take is delivered by the retry timer, without a restart", async () => {
  // The ledger answers 503 until it is let through: the decision's first delivery fails.
  const rig = await startRig({ decisionReader: true, audit: { gated: true, attempts: 1 } });
  try {
    await rig.bridge().start(); // nothing to re-deliver yet
    await rig.intent("g1");
    await waitFor(
      () => rig.lines.some((l) => l.includes("decision not delivered yet")),
      20_000,
      "a failed delivery",
    );
    rig.openGate();
    await waitFor(() => ledgerHas(rig.auditUrl, "g1"), 20_000, "the ledger entry of g1");
    await waitFor(() => rig.state.undelivered(10).length === 0, 20_000, "g1 marked delivered");
    // The relay took the decision the first time: the retry appends it, never publishes it again.
    const seen: string[] = [];
    const reader = new RelayClient({ url: rig.relayUrl, token: POLICY_READER_TOKEN });
    const sub = reader.subscribe(["access.decision"], (e) => {
      seen.push(String(e.payload.tx_id));
    }, { since: "0" });
    try {
      await rig.intent("g2");
      await waitFor(() => seen.includes("g2"), 20_000, "the decision after g1's");
      assert.deepEqual(seen.filter((t) => t === "g1"), ["g1"], "g1 published once");
    } finally {
      sub.close();
      await reader.close();
    }
  } finally {
    await rig.close();
  }
});

Deno.test("intents the relay evicted while the loop was away are reported, not passed over in silence", async () => {
  const rig = await startRig({ retention: 2 });
  const { state } = rig;
  try {
    const first = rig.bridge();
    await first.start();
    await rig.intent("e0");
    await waitFor(() => state.decided("e0"), 20_000, "e0 decided");
    await first.close();
    // While the loop is away, more intents arrive than the relay keeps.
    for (const tx of ["e1", "e2", "e3", "e4", "e5"]) await rig.intent(tx);
    await rig.bridge().start();
    await waitFor(() => state.decided("e5"), 20_000, "e5 decided");
    await waitFor(
      () => rig.lines.some((l) => l.includes("intents may have been lost")),
      20_000,
      "the gap reported",
    );
    assert.equal(state.decided("e1"), false, "an evicted intent cannot be decided");
  } finally {
    await rig.close();
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
  const rig = await startRig({ audit: { attempts: 1 } });
  // Not Latin-1, a control character, and long enough that the prefixed key passes 256 chars.
  const txs = ["注文-1", "line\nbreak", "x".repeat(250)];
  try {
    await rig.bridge().start();
    for (const tx of txs) await rig.intent(tx);
    for (const tx of txs) {
      const name = JSON.stringify(tx.slice(0, 12));
      await waitFor(() => ledgerHas(rig.auditUrl, tx), 20_000, `the ledger entry of ${name}`);
    }
    assert.deepEqual(rig.state.undelivered(10), [], "nothing left undelivered");
  } finally {
    await rig.close();
  }
});

Deno.test("a decision delivered again (its first answer lost) is stored once by the relay, from any loop", async () => {
  const rig = await startRig({ decisionReader: true });
  const decision = new PolicyEngine(await loadBundle(DEFAULT_POLICY_DIR)).evaluate(
    INTENT,
    "tx-again",
  );
  // Two loops (a replica each, or one before and after a restart), each with no record of the
  // relay having taken it: both publish it.
  const clients = [1, 2].map(() =>
    new RelayClient({ url: rig.relayUrl, token: POLICY_TOKEN, log: silentLogger })
  );
  try {
    for (const relay of clients) await deliverDecision({ relay, log: silentLogger }, decision);
    const topics = await (await fetch(`${rig.relayUrl}/topics`, {
      headers: { authorization: `Bearer ${POLICY_READER_TOKEN}` },
    })).json();
    const decisions = topics.topics.find((t: { topic: string }) => t.topic === "access.decision");
    assert.equal(decisions?.count, 1, JSON.stringify(topics));
  } finally {
    for (const c of clients) await c.close();
    await rig.close();
  }
});
