import assert from "node:assert/strict";
import { verify } from "../../core/crypto/mod.ts";
import { canonicalize, decodeBase64 } from "../../core/encoding/mod.ts";
import { parseVerificationKey, verifyAttestation } from "../../core/trust/mod.ts";
import { startAgent, startSidecar } from "./sidecar/fixtures.ts";

const SEED = btoa(String.fromCharCode(...new Uint8Array(32).fill(9)));

Deno.test("health, ready, metrics, and the JSON 404 envelope", async () => {
  const sc = await startSidecar({ agent_id: "bank" });
  try {
    const h = await fetch(`${sc.url}/health`);
    assert.deepEqual(await h.json(), { status: "healthy", agent_id: "bank" });
    const r = await fetch(`${sc.url}/ready`);
    assert.equal(r.status, 200);
    await r.body?.cancel();
    const m = await fetch(`${sc.url}/metrics`);
    assert.match(await m.text(), /http_requests_total|_requests_total/);
    const nf = await fetch(`${sc.url}/nope`);
    assert.equal(nf.status, 404);
    assert.equal((await nf.json()).error, "not found");
  } finally {
    await sc.close();
  }
});

Deno.test("manifest: same signed body on both routes, Go nested fields, verifiable", async () => {
  const sc = await startSidecar({
    agent_id: "bank",
    owner: "ops@example.com",
    trust_level: "trusted",
    reversibility: "full",
    retention: "ephemeral",
    scopes: ["payments:read"],
    signing_key: SEED,
  });
  try {
    const a = await fetch(`${sc.url}/capabilities`);
    const b = await fetch(`${sc.url}/.well-known/agent-manifest`);
    const [ta, tb] = [await a.text(), await b.text()];
    assert.equal(ta, tb);
    const m = JSON.parse(ta);
    assert.equal(ta, canonicalize(m), "served canonically");
    assert.equal(m.protocol_version, "1.0");
    assert.equal(m.trust_score, 10);
    assert.equal(m.trust_level, "trusted");
    assert.deepEqual(m.identity.agent_id, "bank");
    assert.equal(m.identity.owner, "ops@example.com");
    assert.match(m.identity.verification_key, /^ed25519:[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(m.capabilities, {
      idempotency: true,
      concurrency_limit: 100,
      sla_latency_ms: 2000,
      // The Python model's names for the same facts.
      reversibility: "full",
      undo_window: "3600s",
      sla_latency: "2000ms",
    });
    assert.deepEqual(m.reversibility, { level: "full", undo_window_seconds: 3600 });
    assert.deepEqual(m.privacy, {
      retention_policy: "ephemeral",
      human_in_loop: false,
      training_consent: false,
      encryption_at_rest: false,
      encryption_in_transit: false,
    });
    assert.deepEqual(m.scopes, ["payments:read"]);
    const sig = a.headers.get("x-iatp-signature")!;
    const key = parseVerificationKey(m.identity.verification_key)!;
    assert.equal(await verify(key, decodeBase64(sig), ta), true);
    assert.equal(await verify(key, decodeBase64(sig), ta.replace('"bank"', '"evil"')), false);
  } finally {
    await sc.close();
  }
});

Deno.test("attestation: signed record whose config_hash is the served manifest's SHA-256", async () => {
  const sc = await startSidecar({ signing_key: SEED });
  try {
    const manifestText = await (await fetch(`${sc.url}/.well-known/agent-manifest`)).text();
    const key = parseVerificationKey(JSON.parse(manifestText).identity.verification_key)!;
    const att = await (await fetch(`${sc.url}/.well-known/agent-attestation`)).json();
    assert.equal(att.agent_id, "default-agent");
    assert.match(att.codebase_hash, /^[0-9a-f]{64}$/);
    assert.ok(att.expires_at > att.timestamp);
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(manifestText)),
    );
    const hex = Array.from(digest, (x) => x.toString(16).padStart(2, "0")).join("");
    assert.deepEqual(await verifyAttestation(att, key, { configHash: hex }), { ok: true });
  } finally {
    await sc.close();
  }
});

Deno.test("trace route: 404 unknown, 400 for unsafe ids, records after a request", async () => {
  const agent = startAgent();
  const sc = await startSidecar({ agent_url: agent.url });
  try {
    const unknown = await fetch(`${sc.url}/trace/nope`);
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error, "trace not found");
    for (const bad of ["..%2F..%2Fetc%2Fpasswd", "a%20b", "..", "x".repeat(129)]) {
      const r = await fetch(`${sc.url}/trace/${bad}`);
      assert.ok(r.status === 400 || r.status === 404, `${bad}: ${r.status}`);
      const body = await r.json();
      assert.ok(!JSON.stringify(body).includes("root:"), "never reads a file");
    }
    const res = await fetch(`${sc.url}/proxy`, {
      method: "POST",
      headers: { "X-Agent-Trace-ID": "trace-1" },
      body: "{}",
    });
    await res.body?.cancel();
    const t = await (await fetch(`${sc.url}/trace/trace-1`)).json();
    assert.equal(t.trace_id, "trace-1");
    assert.deepEqual(t.records.map((r: { type: string }) => r.type), ["request", "response"]);
  } finally {
    await sc.close();
    await agent.close();
  }
});
