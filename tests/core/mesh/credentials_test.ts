/** `iatp up` credentials in-process: least scopes, reuse, and re-issue near expiry. */
import assert from "node:assert/strict";
import { ensureCredentials, UP_IDENTITIES } from "../../../core/mesh/credentials.ts";
import { CredentialVerifier, decodeClaims } from "../../../core/auth/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { tempDir } from "../../helpers.ts";

const log = createLogger({ service: "test", level: "error", sink: () => {} });
const DAY = 24 * 3_600_000;

Deno.test("up credentials: one verified credential per identity with exactly its scopes", async () => {
  const tmp = await tempDir();
  try {
    const creds = await ensureCredentials(tmp.path, log);
    const verifier = new CredentialVerifier([creds.issuer.publicKey]);
    for (const [name, scopes] of Object.entries(UP_IDENTITIES)) {
      const id = name as keyof typeof UP_IDENTITIES;
      const claims = await verifier.verify(creds.token(id));
      assert.equal(claims.sub, name);
      assert.deepEqual(claims.scopes, [...scopes]);
      assert.equal(creds.file(id), `file:${creds.dir}/${name}.token`);
    }
    assert.equal(creds.issued.length, Object.keys(UP_IDENTITIES).length);
    const again = await ensureCredentials(tmp.path, log);
    assert.deepEqual(again.issued, [], "a second start reuses every credential");
    assert.equal(again.token("policy"), creds.token("policy"));
  } finally {
    await tmp.remove();
  }
});

Deno.test("up credentials: re-issued when close to expiry or signed by another key", async () => {
  const tmp = await tempDir();
  try {
    const first = await ensureCredentials(tmp.path, log);
    const exp = decodeClaims(first.token("admin")).exp! * 1000;
    const later = await ensureCredentials(tmp.path, log, exp - 3 * DAY);
    assert.equal(later.issued.length, Object.keys(UP_IDENTITIES).length, "near expiry");
    assert.ok(decodeClaims(later.token("admin")).exp! * 1000 > exp);

    await Deno.remove(`${first.dir}/issuer.key`);
    const rekeyed = await ensureCredentials(tmp.path, log);
    assert.notEqual(rekeyed.issuer.publicKey, first.issuer.publicKey);
    assert.equal(rekeyed.issued.length, Object.keys(UP_IDENTITIES).length, "new issuer");
    const pub = Deno.readTextFileSync(`${first.dir}/issuer.pub`).trim();
    assert.equal(pub, rekeyed.issuer.publicKey);
  } finally {
    await tmp.remove();
  }
});
