// The dashboard checks its credential settings at start (core/auth/mesh) and loads its login gate,
// and with it the credential verifier (core/auth), with the first request its app serves. These
// tests hold it to what it did when all of it loaded at start: the same start refusals, every
// concurrent first request checked through the launcher's permission line, and a gate that
// cannot be loaded answering a JSON 503 (never a page unchecked) with /health degraded.
import assert from "node:assert/strict";
import { decodeClaims, generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import { ROOT, spawnChild, spawnIatp, tempDir, waitListening } from "../helpers.ts";
import { startDashboard } from "./dashboard_helpers.ts";

/** A relay address nothing listens on: the dashboard keeps serving without its feed. */
const NO_RELAY = "http://127.0.0.1:9";

function apiState(url: string, token?: string) {
  return fetch(`${url}/api/state`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
}

Deno.test("dashboard: bad issuer keys and unreadable revocation files refuse the start", async () => {
  const dir = await tempDir("iatp-dash-start-");
  try {
    await assert.rejects(
      () => startDashboard(NO_RELAY, { auth_keys: ["not-a-key"] }),
      (err: unknown) => err instanceof ConfigError && /auth_keys/.test(err.message),
    );
    const { publicKey } = await generateIssuer();
    await assert.rejects(
      () =>
        startDashboard(NO_RELAY, {
          auth_keys: [publicKey],
          auth_revoked: `file:${dir.path}/missing`,
        }),
      (err: unknown) => err instanceof ConfigError && /auth_revoked/.test(err.message),
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("dashboard: concurrent first requests through the launcher are each checked, as when the verifier loaded at start", async () => {
  const dir = await tempDir("iatp-dash-first-");
  const issuer = await generateIssuer();
  const viewer = await issueCredential(issuer, { sub: "viewer", scopes: ["dashboard:view"] });
  const revoked = await issueCredential(issuer, { sub: "gone", scopes: ["dashboard:view"] });
  const other = await issueCredential(issuer, { sub: "other", scopes: ["publish:x"] });
  await Deno.writeTextFile(`${dir.path}/revoked`, `${decodeClaims(revoked).jti}\n`);
  const child = spawnIatp([
    "dashboard",
    ...["--port", "0", "--relay-url", NO_RELAY],
    ...["--auth-keys", issuer.publicKey, "--auth-revoked", `file:${dir.path}/revoked`],
  ], { env: { IATP_DATA_DIR: dir.path } });
  try {
    const url = await waitListening(child);
    // Nothing has asked for the gate yet: every one of these arrives while it loads.
    const none = Array.from({ length: 6 }, () => apiState(url));
    const garbage = Array.from({ length: 3 }, () => apiState(url, "iatp1.x.y"));
    const gone = Array.from({ length: 3 }, () => apiState(url, revoked));
    const scope = Array.from({ length: 3 }, () => apiState(url, other));
    const ok = Array.from({ length: 3 }, () => apiState(url, viewer));
    for (const r of await Promise.all([...none, ...garbage, ...gone])) {
      assert.equal(r.status, 401, JSON.stringify(r.body));
      assert.ok(r.body.request_id, "the JSON envelope");
    }
    for (const r of await Promise.all(scope)) assert.equal(r.status, 403, JSON.stringify(r.body));
    for (const r of await Promise.all(ok)) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.relay.state !== undefined, true);
    }
    const health = await (await fetch(`${url}/health`)).json();
    assert.equal(health.status, "ok");
    assert.equal(health.login, true);
  } finally {
    await child.stop();
    await dir.remove();
  }
});

Deno.test("dashboard: a login gate that cannot be loaded answers a JSON 503, never a page unchecked, and /health says so", async () => {
  const issuer = await generateIssuer();
  const viewer = await issueCredential(issuer, { sub: "viewer", scopes: ["dashboard:view"] });
  const child = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--allow-net", "--allow-env", "--allow-read"],
    `--deny-read=${ROOT}core/dashboard/login.ts`,
    `${ROOT}cmd/dashboard.ts`,
    ...["--port", "0", "--relay-url", NO_RELAY, "--auth-keys", issuer.publicKey],
  ]);
  try {
    const url = await waitListening(child);
    const before = await (await fetch(`${url}/health`)).json();
    assert.equal(before.status, "ok", "the raw path serves without the routes");
    for (const token of [undefined, viewer, undefined]) {
      // Neither let through unchecked nor refused as if checked: a clear 503, every time.
      const r = await apiState(url, token);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.error, "the dashboard routes could not be loaded");
      assert.ok(r.body.request_id, "the JSON envelope");
    }
    const page = await fetch(`${url}/`, { headers: { accept: "text/html" }, redirect: "manual" });
    assert.equal(page.status, 503);
    await page.body?.cancel();
    // An operator sees it on /health: degraded, naming the routes (they need a restart).
    const after = await (await fetch(`${url}/health`)).json();
    assert.equal(after.status, "degraded");
    assert.equal(after.reason, "routes: the dashboard routes could not be loaded");
    assert.equal(after.service, "dashboard");
    assert.equal(after.login, true);
  } finally {
    await child.stop();
  }
});
