/** Events as sentences, masking on arrival, the per-topic aggregates and session bounds. */
import assert from "node:assert/strict";
import { Grants } from "../../../core/auth/mod.ts";
import { describeEvent, policyReason } from "../../../core/dashboard/describe.ts";
import { OPEN_VIEWER, toDashEvent, type Viewer } from "../../../core/dashboard/event.ts";
import { SessionStore } from "../../../core/dashboard/session.ts";
import { CHART_MINUTES, MeshStats } from "../../../core/dashboard/stats.ts";
import type { RelayEvent } from "../../../core/relay/mod.ts";

const none = () => undefined;
let seq = 0;
function relayEvent(
  topic: string,
  payload: Record<string, unknown>,
  ts = new Date().toISOString(),
): RelayEvent {
  seq++;
  return {
    id: `e-${seq}`,
    event_id: `ev-${seq}`,
    seq,
    ts,
    topic,
    payload,
  };
}

Deno.test("sidecar events read as sentences with their decision and reason", () => {
  const warn = describeEvent("iatp.trace", {
    decision: "warn",
    type: "warning",
    agent_id: "demo-untrusted",
    status: 449,
    details: {
      warning:
        "⚠️ WARNING:\n  • Low trust score (0/10)\n  • No reversibility\n  • Data stored permanently",
    },
  }, none);
  assert.equal(
    warn.summary,
    "demo-untrusted -> warn 449: low trust score (0/10), no reversibility, data stored permanently",
  );
  const current = describeEvent("iatp.trace", {
    decision: "warn",
    type: "warning",
    agent_id: "a1",
    status: 449,
    details: {
      warning: "⚠️ WARNING:\n  • Low trust score (0/10) for agent 'a1'\n  • No reversibility: " +
        "agent 'a1' does not support transaction reversal",
    },
  }, none);
  assert.equal(current.summary, "a1 -> warn 449: low trust score (0/10), no reversibility");
  assert.equal(warn.decision, "warn");
  const block = describeEvent("iatp.trace", {
    type: "blocked",
    agent_id: "demo-assistant",
    status: 403,
    details: {
      error: "Privacy Violation: SSN data can only be sent to agents with ephemeral retention",
    },
  }, none);
  assert.equal(block.decision, "block");
  assert.match(block.summary, /^demo-assistant -> block 403: Privacy Violation: SSN/);
});

Deno.test("a policy decision names who wanted what, and why it was denied", () => {
  const intent = { subject: "agent-7", scope: "read", resource: "dataset-42", enterprise: "C" };
  const d = describeEvent("access.decision", {
    tx_id: "t1",
    decision: "deny",
    reason: 'no policy permitted it: seed needs resource.enterprise == "B"',
  }, (tx) => tx === "t1" ? intent : undefined);
  assert.equal(
    d.summary,
    'agent-7 read dataset-42 in C -> deny: no policy permitted it: seed needs resource.enterprise == "B"',
  );
  // Decisions without a reason (older, malformed intents) get one from the explanation.
  assert.equal(
    policyReason({ decision: "allow", explanation: { determining_policies: ["p1"] } }),
    "permitted by p1",
  );
  assert.equal(
    policyReason({
      decision: "deny",
      explanation: { errors: [{ policy: "intent", message: "subject: bad" }] },
    }),
    "invalid intent: subject: bad",
  );
  assert.equal(describeEvent("x.y", { a: 1, b: "two" }, none).summary, "x.y event: a=1, b=two");
});

Deno.test("payloads are masked on arrival, so summaries cannot hold a secret", () => {
  const e = toDashEvent(
    relayEvent("sensor.login", {
      message: "login by bob",
      password: "p4ss",
      nested: { apiKey: "k3y", credentials: { token: "t0k" } },
      note: "Authorization: Bearer abcdef.ghijkl",
    }),
    none,
  );
  const text = JSON.stringify(e);
  for (const v of ["p4ss", "k3y", "t0k", "abcdef.ghijkl"]) assert.ok(!text.includes(v), v);
  assert.equal(e.payload.password, "[REDACTED]");
});

Deno.test("aggregates are kept per topic, summed per viewer, over the last hour", () => {
  let now = Date.UTC(2026, 0, 1, 12, 0, 30);
  const stats = new MeshStats(undefined, () => now);
  const add = (topic: string, p: Record<string, unknown>, at = now) =>
    stats.add(toDashEvent(relayEvent(topic, p, new Date(at).toISOString()), none));
  add("access.decision", { tx_id: "a", decision: "deny" });
  add("iatp.trace", { type: "blocked", agent_id: "ag", details: { error: "no", trust_score: 3 } });
  now += 5 * 60_000;
  add("access.decision", { tx_id: "b", decision: "allow" });
  add("access.decision", { tx_id: "c", decision: "allow" }, now - 2 * 60_000);
  add("access.decision", { tx_id: "d", decision: "allow" }, now - 61 * 60_000);
  const all = stats.view(OPEN_VIEWER);
  assert.equal(all.minutes.length, CHART_MINUTES);
  assert.equal(all.series.deny.reduce((a, b) => a + b), 1);
  assert.equal(all.series.allow.at(-1), 1);
  assert.equal(all.series.allow.at(-3), 1, "counted in the minute it happened");
  assert.equal(all.series.allow.reduce((a, b) => a + b), 2, "older than the chart: not counted");
  assert.equal(all.series.deny.at(-6), 1, "five minutes before the newest");
  assert.deepEqual(all.agents.map((a) => [a.agent_id, a.block, a.trust_score]), [["ag", 1, 3]]);
  assert.equal(all.latest.length, 2);
  const grants = new Grants(["subscribe:iatp.trace"]);
  const scoped: Viewer = { id: "v", maySee: (t) => grants.maySee(t), authenticated: true };
  const mine = stats.view(scoped);
  assert.equal(mine.series.deny.reduce((a, b) => a + b), 0);
  assert.deepEqual(mine.latest.map((r) => r.topic), ["iatp.trace"]);
  now += 61 * 60_000;
  assert.equal(
    stats.view(OPEN_VIEWER).series.allow.reduce((a, b) => a + b),
    0,
    "older than an hour",
  );
});

Deno.test("sessions are bounded, expire, never outlive the credential, and end on delete", () => {
  let now = 1_000_000;
  const store = new SessionStore(60_000, 2, () => now);
  const g = new Grants(["dashboard:view"]);
  const a = store.create("a", g);
  const b = store.create("b", g, now + 10_000);
  assert.equal(b.expires, now + 10_000, "capped by the credential's expiry");
  const c = store.create("c", g);
  assert.equal(store.size, 2);
  assert.equal(store.get(b.id), undefined, "the one closest to expiry made room");
  assert.equal(store.get(a.id)?.sub, "a");
  store.delete(a.id);
  assert.equal(store.get(a.id), undefined);
  now += 60_001;
  assert.equal(store.get(c.id), undefined, "expired");
});

Deno.test("card numbers and SSNs are masked on arrival, in values, numbers and member names", () => {
  const e = toDashEvent(
    relayEvent("sensor.pii", {
      agent_id: "s1",
      note: "ssn 078-05-1120, card 4111 1111 1111 1111",
      card: 4532015112830366,
      "4111 1111 1111 1111": "a card as a key",
      "iatp1.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2ln": 1,
    }),
    none,
  );
  const text = JSON.stringify(e);
  for (const v of ["078-05-1120", "4111 1111 1111 1111", "4532015112830366", "c2lnbmF0dXJl"]) {
    assert.ok(!text.includes(v), `${v} in ${text}`);
  }
  assert.equal(e.payload.agent_id, "s1");
});
