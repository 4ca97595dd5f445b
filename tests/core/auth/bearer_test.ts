import assert from "node:assert/strict";
import { Hono } from "hono";
import { createMeshAuth, principalOf, requireMeshScope } from "../../../core/auth/bearer.ts";
import { isLoopbackHost, meshAuthFor } from "../../../core/auth/config.ts";
import { resolveAuthKeys } from "../../../core/auth/settings/mod.ts";
import { generateIssuer, issueCredential } from "../../../core/auth/credential.ts";
import { sha256Hex, sign } from "../../../core/crypto/mod.ts";
import { encodeBase64Url } from "../../../core/encoding/mod.ts";
import { ConfigError } from "../../../core/errors/mod.ts";
import { type AppEnv, errorResponse } from "../../../core/http/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";

const log = createLogger({ service: "test", level: "error" });

Deno.test("bearer: none / wrong / expired / wrong scope / right scope / query string", async () => {
  const issuer = await generateIssuer();
  const other = await generateIssuer();
  const auth = createMeshAuth({
    keys: [issuer.publicKey],
    staticTokens: { "static-token-1": ["audit:append"] },
  });
  const app = new Hono<AppEnv>();
  app.onError((err, c) => errorResponse(c, err));
  app.post(
    "/audit",
    requireMeshScope(auth, "audit:append"),
    (c) => c.json({ who: principalOf(c)?.id }),
  );
  const call = (headers: Record<string, string>, path = "/audit") =>
    app.request(path, { method: "POST", headers });
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const right = await issueCredential(issuer, { sub: "policy", scopes: ["audit:append"] });
  const expired = await issueCredential(issuer, {
    sub: "policy",
    scopes: ["audit:append"],
    ttlMs: 1000,
    now: Date.now() - 10_000,
  });
  const wrongScope = await issueCredential(issuer, { sub: "viewer", scopes: ["dashboard:view"] });
  const unknown = await issueCredential(other, { sub: "policy", scopes: ["audit:append"] });
  const cases: Array<[string, Record<string, string>, number, string?]> = [
    ["none", {}, 401],
    ["garbage", bearer("nope"), 401],
    ["basic", { authorization: "Basic dXNlcjpwYXNz" }, 401],
    ["unknown issuer", bearer(unknown), 401],
    ["expired", bearer(expired), 401],
    ["wrong scope", bearer(wrongScope), 403],
    ["right scope", bearer(right), 200, "policy"],
    ["static token", bearer("static-token-1"), 200, "token:"],
  ];
  const bodies = new Set<string>();
  for (const [name, headers, status, who] of cases) {
    const res = await call(headers);
    assert.equal(res.status, status, name);
    const body = await res.json();
    if (status === 401) {
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="iatp"', name);
      bodies.add(body.error + body.reason);
    }
    if (status === 403) assert.equal(body.required, "audit:append");
    if (who) assert.ok(String(body.who).startsWith(who), name);
    assert.ok(!JSON.stringify(body).includes("iatp1."), `${name}: no credential echoed`);
  }
  assert.equal(bodies.size, 1, "every 401 reads the same: no hint which credentials exist");
  const q = await call(bearer(right), `/audit?access_token=${right}`);
  assert.equal(q.status, 401);
  assert.equal((await q.json()).reason, "query_string");
});

Deno.test("bearer: with nothing configured auth is off and every request passes", async () => {
  const auth = createMeshAuth({});
  assert.equal(auth.enabled, false);
  const app = new Hono<AppEnv>();
  app.get("/x", requireMeshScope(auth, "audit:append"), (c) => c.text("ok"));
  assert.equal((await app.request("/x")).status, 200);
});

Deno.test("protected mode: beyond loopback needs credentials or --insecure", async () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) {
    assert.ok(isLoopbackHost(h), h);
  }
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "example.com"]) assert.ok(!isLoopbackHost(h), h);
  const base = { auth_keys: [], auth_revoked: [], insecure: false };
  assert.equal(meshAuthFor(base, { command: "relay", host: "127.0.0.1", log }).enabled, false);
  assert.throws(
    () => meshAuthFor(base, { command: "relay", host: "0.0.0.0", log }),
    (err) =>
      err instanceof ConfigError && err.key === "auth_keys" && /--insecure/.test(err.message),
  );
  assert.equal(
    meshAuthFor({ ...base, insecure: true }, { command: "relay", host: "0.0.0.0", log }).enabled,
    false,
  );
  const issuer = await generateIssuer();
  assert.equal(
    meshAuthFor({ ...base, auth_keys: [issuer.publicKey] }, {
      command: "relay",
      host: "0.0.0.0",
      log,
    }).enabled,
    true,
  );
  assert.equal(
    meshAuthFor(base, {
      command: "relay",
      host: "0.0.0.0",
      log,
      staticTokens: { "abcdefgh1": ["*"] },
    }).enabled,
    true,
  );
});

Deno.test("auth_keys: file:PATH expands one key per line; a bad key names the setting", async () => {
  const a = await generateIssuer();
  const b = await generateIssuer();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/keys`, `# mesh issuers\n${a.publicKey}\n\n${b.publicKey}\n`);
    assert.deepEqual(resolveAuthKeys([`file:${dir}/keys`]), [a.publicKey, b.publicKey]);
    assert.throws(
      () => resolveAuthKeys([`file:${dir}/missing`]),
      (e) => e instanceof ConfigError && e.key === "auth_keys",
    );
    assert.throws(
      () => resolveAuthKeys(["iatp-ed25519:short"]),
      (e) => e instanceof ConfigError && !e.message.includes(a.publicKey),
    );
    // A key file named without file: says how to name one; a private key says where its public
    // key is, for an issuer key and a plugin signing key alike.
    assert.throws(
      () => resolveAuthKeys([`${dir}/keys`]),
      (e) => e instanceof ConfigError && /give it as file:PATH/.test(e.found),
    );
    await Deno.writeTextFile(`${dir}/ops.key`, `${btoa("k".repeat(32))}\n`);
    assert.throws(
      () => resolveAuthKeys([`file:${dir}/ops.key`]),
      (e) =>
        e instanceof ConfigError && /^a private key .*FILE\.pub .*iatp plugin keygen/.test(e.found),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bearer: a credential whose subject is a static token's principal (token:<8 hex>) is refused", async () => {
  const issuer = await generateIssuer();
  const statik = "static-token-1";
  const id = `token:${sha256Hex(statik).slice(0, 8)}`;
  const auth = createMeshAuth({ keys: [issuer.publicKey], staticTokens: { [statik]: ["*"] } });
  const asToken = async (req: Request) => (await auth.authenticate(req))?.id;
  assert.equal(
    await asToken(new Request("http://x/", { headers: { authorization: `Bearer ${statik}` } })),
    id,
  );
  // Not issued: `iatp token issue` and issueCredential refuse the subject.
  await assert.rejects(issueCredential(issuer, { sub: id, scopes: ["*"] }), RangeError);
  // Signed by the trusted issuer all the same (as an older release issued it): still refused.
  const claims = {
    sub: id,
    scopes: ["*"],
    iat: Math.floor(Date.now() / 1000),
    jti: "aaaaaaaaaaaaaaaa",
    kid: issuer.kid,
  };
  const head = `iatp1.${encodeBase64Url(new TextEncoder().encode(JSON.stringify(claims)))}`;
  const forged = `${head}.${encodeBase64Url(await sign(issuer.keys.privateKey, head))}`;
  await assert.rejects(
    auth.authenticate(new Request("http://x/", { headers: { authorization: `Bearer ${forged}` } })),
    (err: Error & { status?: number }) => err.status === 401,
  );
});
