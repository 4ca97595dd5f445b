/**
 * The decision loop's part of the policy service's `/health`, against a real relay and state
 * file: degraded while the relay is gone and ok once it is back, and degraded with the reason
 * once the intent subscription failed for good (a handler that keeps throwing).
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
import { tempDir, waitFor } from "../../helpers.ts";

function startRelay(port = 0): Promise<Service> {
  return relayCommand.start(relayCommand.resolve({ port, workers: 1 }), { log: silentLogger });
}

/** An engine whose every evaluation throws, as a broken bundle or engine would. */
class BrokenEngine extends PolicyEngine {
  override evaluate(): Decision {
    throw new Error("engine out of order");
  }
}

/** A decision loop on `relayUrl` with its own state file and relay client. */
async function startLoop(relayUrl: string, engine?: PolicyEngine) {
  const dir = await tempDir("iatp-policy-health-");
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
  });
  await bridge.start();
  return {
    bridge,
    health: () => policyHealth(bridge, "ref"),
    close: async () => {
      await bridge.close();
      await relay.close();
      state.close();
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
    assert.equal(loop.health().reason, "relay: subscription disconnected");
    relay = await startRelay(port);
    await waitFor(() => loop.health().status === "ok", 20_000, "ok again");
  } finally {
    await loop.close();
    await relay.close();
  }
});

Deno.test("policy /health: a subscription stopped at an intent it keeps failing on says why", async () => {
  const relay = await startRelay();
  const bundle = await loadBundle(DEFAULT_POLICY_DIR);
  const loop = await startLoop(relay.url, new BrokenEngine(bundle));
  const publisher = new RelayClient({ url: relay.url, log: silentLogger });
  try {
    await waitFor(() => loop.health().status === "ok", 20_000, "subscribed");
    await publisher.publishNow("access.intent", {
      tx_id: "t1",
      subject: { id: "agent-1" },
      resource: { id: "doc-1", scope: "read" },
      context: { session_risk: 1 },
    });
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
