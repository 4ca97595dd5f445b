import assert from "node:assert/strict";
import { generateKeyPair, importSeed, verify } from "../../../core/crypto/mod.ts";
import { canonicalize, encodeBase64 } from "../../../core/encoding/mod.ts";
import {
  buildManifest,
  createAttestation,
  hashCodebase,
  type ManifestFields,
  parseVerificationKey,
  signManifest,
  verifyAttestation,
} from "../../../core/trust/mod.ts";
import { attestationMessage } from "../../../core/trust/attestation.ts";
import { FileTooLargeError } from "../../../core/config/mod.ts";
import { ROOT } from "../../helpers.ts";

function sample(publicRaw?: Uint8Array) {
  return buildManifest(fields(publicRaw));
}

function fields(publicRaw?: Uint8Array): ManifestFields {
  return {
    agentId: "bank-agent",
    owner: "ops@example.com",
    verificationKey: publicRaw,
    trustLevel: "trusted",
    reversibility: "full",
    retention: "ephemeral",
    humanInLoop: false,
    trainingConsent: false,
    scopes: ["payments:read"],
    idempotency: true,
    concurrencyLimit: 100,
    slaLatencyMs: 2000,
    undoWindowSeconds: 3600,
    compensationMethod: "refund",
    encryptionAtRest: true,
    encryptionInTransit: false,
    storageLocation: "eu-west",
  };
}

Deno.test("manifest: Go nested shape plus protocol_version, trust_score and the flat fields", async () => {
  const keys = await generateKeyPair();
  const m = sample(keys.publicRaw);
  assert.equal(m.identity.agent_id, "bank-agent");
  assert.equal(m.identity.verification_key, `ed25519:${encodeBase64(keys.publicRaw)}`);
  assert.deepEqual(parseVerificationKey(m.identity.verification_key!), keys.publicRaw);
  assert.equal(m.trust_score, 10);
  assert.deepEqual(m.capabilities, {
    idempotency: true,
    concurrency_limit: 100,
    sla_latency_ms: 2000,
    reversibility: "full",
    undo_window: "3600s",
    sla_latency: "2000ms",
  });
  assert.equal(m.agent_id, "bank-agent");
  assert.equal(m.identity.owner, "ops@example.com");
  assert.deepEqual(m.reversibility, {
    level: "full",
    undo_window_seconds: 3600,
    compensation_method: "refund",
  });
  assert.deepEqual(m.privacy, {
    retention_policy: "ephemeral",
    human_in_loop: false,
    training_consent: false,
    encryption_at_rest: true,
    encryption_in_transit: false,
    storage_location: "eu-west",
  });
  assert.deepEqual(m.privacy_contract, {
    retention: "ephemeral",
    human_review: false,
    encryption_at_rest: true,
    encryption_in_transit: false,
    storage_location: "eu-west",
  });
  const noOwner = buildManifest({ ...fields(), owner: undefined });
  assert.equal(noOwner.identity.owner, "bank-agent", "owner defaults to the agent id");
  const signed = await signManifest(m, keys.privateKey);
  assert.equal(signed.body, canonicalize(m));
  const sig = Uint8Array.from(atob(signed.signature), (c) => c.charCodeAt(0));
  assert.equal(await verify(keys.publicRaw, sig, signed.body), true);
  assert.equal(await verify(keys.publicRaw, sig, signed.body.replace("10", "9")), false);
});

Deno.test("attestation: signs the PROTOCOLS message and rejects tampering", async () => {
  const keys = await importSeed(new Uint8Array(32).fill(7));
  const other = await generateKeyPair();
  const att = await createAttestation({
    agentId: "a1",
    codebaseHash: "a".repeat(64),
    configHash: "b".repeat(64),
    privateKey: keys.privateKey,
    publicRaw: keys.publicRaw,
    ttlMs: 60_000,
  });
  assert.equal(attestationMessage(att), `a1:${"a".repeat(64)}:${"b".repeat(64)}:${att.timestamp}`);
  assert.deepEqual(await verifyAttestation(att, keys.publicRaw), { ok: true });
  assert.equal(
    (await verifyAttestation(att, keys.publicRaw, { configHash: "b".repeat(64) })).ok,
    true,
  );
  const bad = [
    { ...att, codebase_hash: "c".repeat(64) },
    { ...att, agent_id: "a2" },
    { ...att, signature: "AAAA" },
    { ...att, timestamp: new Date(Date.now() + 3_600_000).toISOString() },
  ];
  for (const b of bad) assert.equal((await verifyAttestation(b, keys.publicRaw)).ok, false);
  assert.equal((await verifyAttestation(att, other.publicRaw)).ok, false, "another key");
  const later = new Date(Date.now() + 120_000);
  assert.match((await verifyAttestation(att, keys.publicRaw, { now: later })).reason!, /expired/);
  assert.match(
    (await verifyAttestation(att, keys.publicRaw, { configHash: "d".repeat(64) })).reason!,
    /config_hash/,
  );
  assert.equal((await verifyAttestation("nope", keys.publicRaw)).ok, false);
});

Deno.test("codebase hash equals the documented coreutils pipeline", async () => {
  const mine = await hashCodebase(ROOT);
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      "find main.ts deno.json deno.lock cmd core -type f | LC_ALL=C sort | xargs sha256sum | sha256sum",
    ],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  const expected = new TextDecoder().decode(out.stdout).split(" ")[0];
  // Other engineers edit the tree concurrently: retry once if a file changed in between.
  if (mine.hash !== expected) {
    const again = await hashCodebase(ROOT);
    const out2 = await new Deno.Command("sh", {
      args: [
        "-c",
        "find main.ts deno.json deno.lock cmd core -type f | LC_ALL=C sort | xargs sha256sum | sha256sum",
      ],
      cwd: ROOT,
      stdout: "piped",
    }).output();
    assert.equal(again.hash, new TextDecoder().decode(out2.stdout).split(" ")[0]);
  } else {
    assert.equal(mine.hash, expected);
  }
  assert.ok(mine.files > 10);
});

Deno.test("codebase hash: a source file over its bound is refused, not read whole", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/core`);
    await Deno.writeTextFile(`${dir}/main.ts`, "export {};\n");
    // Sparse: 16 MiB and one byte, without writing them.
    await Deno.writeTextFile(`${dir}/core/huge.ts`, "");
    await Deno.truncate(`${dir}/core/huge.ts`, 16 * 1024 * 1024 + 1);
    await assert.rejects(() => hashCodebase(dir), FileTooLargeError);
    await Deno.remove(`${dir}/core/huge.ts`);
    const small = await hashCodebase(dir);
    assert.equal(small.files, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
