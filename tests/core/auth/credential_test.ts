import assert from "node:assert/strict";
import {
  CredentialVerifier,
  decodeClaims,
  generateIssuer,
  issueCredential,
  issuerFromSeed,
} from "../../../core/auth/credential.ts";
import { CredentialError, parsePublicKey } from "../../../core/auth/settings/mod.ts";
import { Grants, isMeshScope } from "../../../core/auth/grants.ts";

async function refused(p: Promise<unknown>, reason: string): Promise<void> {
  await assert.rejects(p, (err) => err instanceof CredentialError && err.reason === reason);
}

Deno.test("credential: issued, verified, decoded; the seed round-trips to the same issuer", async () => {
  const issuer = await generateIssuer();
  const again = await issuerFromSeed(issuer.seedBase64);
  assert.equal(again.publicKey, issuer.publicKey);
  assert.equal(parsePublicKey(issuer.publicKey).length, 32);
  const token = await issueCredential(again, { sub: "policy", scopes: ["audit:append"] });
  assert.match(token, /^iatp1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
  const claims = await new CredentialVerifier([issuer.publicKey]).verify(token);
  assert.equal(claims.sub, "policy");
  assert.deepEqual(claims.scopes, ["audit:append"]);
  assert.equal(claims.kid, issuer.kid);
  assert.ok(claims.exp! > claims.iat);
  assert.deepEqual(decodeClaims(token), claims);
});

Deno.test("credential: unknown issuer, tampered claims or signature, expiry, revocation", async () => {
  const a = await generateIssuer();
  const b = await generateIssuer();
  let now = 1_700_000_000_000;
  const verifier = new CredentialVerifier([a.publicKey], { now: () => now, revoked: [] });
  const token = await issueCredential(a, { sub: "x", scopes: ["*"], ttlMs: 60_000, now });
  await verifier.verify(token);
  await refused(verifier.verify(await issueCredential(b, { sub: "x", scopes: [] })), "unknown_key");
  const [p, claims, sig] = token.split(".");
  const forged = JSON.parse(atob(claims.replace(/-/g, "+").replace(/_/g, "/")));
  forged.scopes = ["*", "audit:append"];
  const b64 = btoa(JSON.stringify(forged)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
  await refused(verifier.verify(`${p}.${b64}.${sig}`), "bad_signature");
  const flipped = sig.slice(0, 10) + (sig[10] === "A" ? "B" : "A") + sig.slice(11);
  await refused(verifier.verify(`${p}.${claims}.${flipped}`), "bad_signature");
  for (const junk of ["", "iatp1", "iatp1..", "Bearer x", `${p}.${claims}`, "iatp1.e30." + sig]) {
    await refused(verifier.verify(junk), "malformed");
  }
  now += 61_000; // cached as valid before: expiry still applies
  await refused(verifier.verify(token), "expired");
  const revokedOne = await issueCredential(a, { sub: "y", scopes: [] });
  const jti = decodeClaims(revokedOne).jti;
  await refused(
    new CredentialVerifier([a.publicKey], { revoked: [jti] }).verify(revokedOne),
    "revoked",
  );
  const future = await issueCredential(a, { sub: "z", scopes: [], now: Date.now() + 3_600_000 });
  await refused(new CredentialVerifier([a.publicKey]).verify(future), "not_yet_valid");
});

Deno.test("credential: a ttl of 0 never expires; bad subjects and scopes are refused at issue", async () => {
  const a = await generateIssuer();
  const token = await issueCredential(a, { sub: "ops@example", scopes: ["subscribe:*"], ttlMs: 0 });
  assert.equal(decodeClaims(token).exp, undefined);
  await assert.rejects(issueCredential(a, { sub: "bad name", scopes: [] }), RangeError);
  await assert.rejects(issueCredential(a, { sub: "x", scopes: ["root"] }), RangeError);
  assert.throws(() => parsePublicKey("ed25519:abc"), CredentialError);
});

Deno.test("grants: one vocabulary, topic patterns, service wildcards", () => {
  for (
    const s of [
      "*",
      "audit:append",
      "policy:evaluate",
      "dashboard:view",
      "trace:read",
      "status:read",
      "status:*",
      "audit:*",
      "publish:a.b",
      "subscribe:sensor.*",
      "publish:*",
    ]
  ) {
    assert.equal(isMeshScope(s), true, s);
  }
  for (
    const s of [
      "",
      "audit",
      "audit:delete",
      "publish:",
      "publish:a b",
      "root:*",
      "subscribe:a.*.b",
      "status:write",
    ]
  ) {
    assert.equal(isMeshScope(s), false, s);
  }
  const g = new Grants(["publish:sensor.*", "subscribe:access.intent", "audit:*"]);
  assert.equal(g.allows("publish:sensor.cpu.high"), true);
  assert.equal(g.allows("publish:sensor.*"), true);
  assert.equal(g.allows("publish:sensor"), false);
  assert.equal(g.allows("publish:*"), false);
  assert.equal(g.allows("subscribe:access.intent"), true);
  assert.equal(g.allows("subscribe:access.*"), false);
  assert.equal(g.maySee("access.decision"), false);
  assert.equal(g.allows("audit:append"), true);
  assert.equal(g.allows("policy:evaluate"), false);
  assert.equal(new Grants(["*"]).allows("policy:evaluate"), true);
  assert.equal(new Grants(["bogus"]).allows("bogus"), false);
  assert.equal(new Grants(["status:*"]).allows("status:read"), true);
  assert.equal(new Grants(["trace:read"]).allows("status:read"), false);
  assert.equal(g.mayAppendAs("anyone"), true, "audit:* covers every actor");
});

Deno.test("audit:append:<actor> binds appends to an actor or an actor prefix", () => {
  for (const s of ["audit:append:policy", "audit:append:sensor:*", "audit:append:*"]) {
    assert.equal(isMeshScope(s), true, s);
  }
  for (const s of ["audit:append:", "audit:append:a b", "audit:append:a*b", "audit:append:é"]) {
    assert.equal(isMeshScope(s), false, s);
  }
  assert.equal(isMeshScope(`audit:append:${"a".repeat(129)}`), false);
  const g = new Grants(["audit:append:policy", "audit:append:sensor:*"]);
  assert.equal(g.allows("audit:append"), true, "the route check passes; the actor decides");
  assert.equal(g.mayAppendAs("policy"), true);
  assert.equal(g.mayAppendAs("policy2"), false);
  assert.equal(g.mayAppendAs("sensor:cpu"), true);
  assert.equal(g.mayAppendAs("sensor"), false);
  assert.equal(g.mayAppendAs(""), false);
  assert.equal(new Grants(["audit:append"]).mayAppendAs("anyone"), true);
  assert.equal(new Grants(["*"]).mayAppendAs("anyone"), true);
  assert.equal(new Grants(["publish:*"]).mayAppendAs("anyone"), false);
});
