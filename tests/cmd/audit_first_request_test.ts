// The audit service loads its routes, the credential verifier they build and the exact JSON
// parser with the first request that needs them. These tests hold it to what it answered when
// all of it loaded at start, through the launcher's permission line: concurrent first requests
// are each checked as before (401 for none, garbage or a revoked credential, 403 for a missing
// scope, 201 for a good one, and only those stored), and a parser that cannot be loaded refuses
// the append it would have read (a JSON 503 after the credential check, nothing stored), never a
// 500 and never an append unchecked.
import assert from "node:assert/strict";
import { decodeClaims, generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { ROOT, spawnChild, spawnIatp, tempDir, waitListening } from "../helpers.ts";

function append(url: string, tx: string, token?: string, body?: string) {
  return fetch(`${url}/audit`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body ?? JSON.stringify({ tx_id: tx, event: "first", actor: "t", payload: { tx } }),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
}

async function treeSize(url: string): Promise<number> {
  const res = await fetch(`${url}/checkpoint`, { headers: { accept: "application/json" } });
  assert.equal(res.status, 200);
  return (await res.json()).tree_size;
}

Deno.test("audit: concurrent first requests through the launcher are each checked, as when the verifier loaded at start", async () => {
  const dir = await tempDir("iatp-audit-first-");
  const issuer = await generateIssuer();
  const good = await issueCredential(issuer, { sub: "writer", scopes: ["audit:append"] });
  const revoked = await issueCredential(issuer, { sub: "gone", scopes: ["audit:append"] });
  const reader = await issueCredential(issuer, { sub: "reader", scopes: ["publish:x"] });
  const jti = decodeClaims(revoked).jti;
  await Deno.writeTextFile(`${dir.path}/revoked`, `${jti}\n`);
  const args = [
    "audit",
    ...["--port", "0", "--compat", "iatp", "--db", `${dir.path}/audit.db`],
    ...["--auth-keys", issuer.publicKey, "--auth-revoked", `file:${dir.path}/revoked`],
  ];
  const child = spawnIatp(args, { env: { IATP_DATA_DIR: dir.path } });
  try {
    const url = await waitListening(child);
    // Nothing has asked for the routes yet: every one of these arrives while they load.
    const unchecked = Array.from({ length: 8 }, (_, i) => append(url, `none-${i}`));
    const garbage = Array.from({ length: 4 }, (_, i) => append(url, `g-${i}`, "iatp1.x.y"));
    const gone = Array.from({ length: 4 }, (_, i) => append(url, `r-${i}`, revoked));
    const scope = Array.from({ length: 4 }, (_, i) => append(url, `s-${i}`, reader));
    const ok = Array.from({ length: 4 }, (_, i) => append(url, `ok-${i}`, good));
    for (const r of await Promise.all([...unchecked, ...garbage, ...gone])) {
      assert.equal(r.status, 401, JSON.stringify(r.body));
      assert.ok(r.body.request_id, "the JSON envelope");
    }
    for (const r of await Promise.all(scope)) {
      assert.equal(r.status, 403, JSON.stringify(r.body));
    }
    for (const r of await Promise.all(ok)) assert.equal(r.status, 201, JSON.stringify(r.body));
    // Only the four checked appends were stored.
    assert.equal(await treeSize(url), 4);
  } finally {
    await child.stop();
    await dir.remove();
  }
});

Deno.test("audit: an exact JSON parser that cannot be loaded refuses each append with a JSON 503, after the credential check", async () => {
  const dir = await tempDir("iatp-audit-parser-");
  const issuer = await generateIssuer();
  const good = await issueCredential(issuer, { sub: "writer", scopes: ["audit:append"] });
  const child = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--allow-net", "--allow-env", "--allow-read"],
    `--allow-write=${dir.path}`,
    `--deny-read=${ROOT}core/http/exact_json.ts`,
    `${ROOT}cmd/audit.ts`,
    ...["--port", "0", "--compat", "iatp", "--db", `${dir.path}/audit.db`],
    ...["--auth-keys", issuer.publicKey],
  ]);
  try {
    const url = await waitListening(child);
    // The credential is checked first, as always: no credential is still a 401.
    const none = await append(url, "none");
    assert.equal(none.status, 401, JSON.stringify(none.body));
    for (let i = 0; i < 2; i++) {
      // A body never parsed is never stored: a clear 503 every time (Deno keeps the failed load),
      // and the connection it came on still serves the next request.
      const r = await append(url, `p-${i}`, good);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.error, "the request body parser could not be loaded");
      assert.ok(r.body.request_id, "the JSON envelope");
    }
    // Even a body the parser would refuse is not read unparsed.
    const dup = await append(url, "d", good, '{"tx_id":"a","tx_id":"b"}');
    assert.equal(dup.status, 503, JSON.stringify(dup.body));
    assert.equal(await treeSize(url), 0);
  } finally {
    await child.stop();
    await dir.remove();
  }
});
