import assert from "node:assert/strict";
import { signedFetch } from "../../../../core/auth/mod.ts";
import {
  checkHmacKey,
  MIN_HMAC_KEY_BYTES,
  staticToken,
  VaultTokenSource,
} from "../../../../core/auth/agent/tokens.ts";
import { createLogger, scrubString } from "../../../../core/log/mod.ts";

/** A fake Vault KV v2 read endpoint: the documented path, header and response shape. */
function fakeVault(tokens: Map<string, string>, vaultToken: string) {
  const reads: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    reads.push(path);
    if (req.headers.get("x-vault-token") !== vaultToken) {
      return Response.json({ errors: ["permission denied"] }, { status: 403 });
    }
    const token = tokens.get(path);
    if (!token) return Response.json({ errors: [] }, { status: 404 });
    return Response.json({ data: { data: { token }, metadata: { version: 1 } } });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, reads, close: () => server.shutdown() };
}

Deno.test("vault source reads its own key, refreshes on demand and is scrubbed", async () => {
  const tokens = new Map([["/v1/secret/data/agents/dep1/compose_agent_token", "tok-one-123"]]);
  const vault = fakeVault(tokens, "vault-root-xyz");
  const src = new VaultTokenSource({
    address: vault.url + "/",
    vaultToken: "vault-root-xyz",
    prefix: "/secret/data/agents/",
    deploymentHash: "dep1",
    key: "compose_agent_token",
    fallback: "",
    minRefreshGapMs: 0,
  });
  try {
    await src.start();
    assert.equal(src.current(), "tok-one-123");
    assert.deepEqual(vault.reads, ["/v1/secret/data/agents/dep1/compose_agent_token"]);
    tokens.set("/v1/secret/data/agents/dep1/compose_agent_token", "tok-two-456");
    assert.equal(await src.refresh("test"), true);
    assert.equal(src.current(), "tok-two-456");
    assert.equal(await src.refresh("test"), false, "unchanged token");
    assert.equal(scrubString("x tok-two-456 vault-root-xyz"), "x [REDACTED] [REDACTED]");
  } finally {
    src.close();
    await vault.close();
  }
});

Deno.test("vault failure keeps the fallback; refreshes are debounced", async () => {
  const vault = fakeVault(new Map(), "right");
  const src = new VaultTokenSource({
    address: vault.url,
    vaultToken: "wrong-token",
    prefix: "kv",
    deploymentHash: "d",
    key: "status_panel_token",
    fallback: "fallback-tok",
    minRefreshGapMs: 60_000,
  });
  try {
    await src.start();
    assert.equal(src.current(), "fallback-tok");
    assert.equal(await src.refresh("again"), false);
    assert.equal(vault.reads.length, 1, "second refresh inside the gap is not sent");
  } finally {
    src.close();
    await vault.close();
  }
});

Deno.test("a Vault key shorter than the HMAC minimum is refused as a missing one: logged, the key before kept", async () => {
  const path = "/v1/kv/d/compose_agent_token";
  const tokens = new Map([[path, "short-key"]]);
  const vault = fakeVault(tokens, "right");
  const lines: string[] = [];
  const src = new VaultTokenSource({
    address: vault.url,
    vaultToken: "right",
    prefix: "kv",
    deploymentHash: "d",
    key: "compose_agent_token",
    fallback: "fallback-key-0123456789",
    minBytes: MIN_HMAC_KEY_BYTES,
    minRefreshGapMs: 0,
    log: createLogger({ service: "t", sink: (l) => lines.push(l) }),
  });
  try {
    await src.start();
    assert.equal(src.current(), "fallback-key-0123456789");
    assert.equal(src.freshness().lastRefreshOk, false);
    const warned = lines.map((l) => JSON.parse(l)).find((r) =>
      r.msg === "vault secret's token is too short to be used"
    );
    assert.deepEqual(
      [warned?.level, warned?.fields.key, warned?.fields.bytes, warned?.fields.min_bytes],
      ["warn", "compose_agent_token", 9, 16],
    );
    assert.ok(!lines.join("\n").includes("short-key"), "the key is never logged");
    tokens.set(path, "k".repeat(MIN_HMAC_KEY_BYTES)); // exactly the minimum: used
    assert.equal(await src.refresh("test"), true);
    assert.equal(src.current(), "k".repeat(MIN_HMAC_KEY_BYTES));
  } finally {
    src.close();
    await vault.close();
  }
});

Deno.test("checkHmacKey counts bytes, names the setting and its size, never the key", () => {
  assert.equal(checkHmacKey("agent_token", undefined), undefined);
  assert.equal(checkHmacKey("agent_token", ""), "");
  assert.equal(checkHmacKey("agent_token", "é".repeat(8)), "é".repeat(8)); // 16 bytes
  assert.throws(
    () => checkHmacKey("compose_agent.token", "é".repeat(7) + "a"),
    (err: Error) => {
      assert.equal(err.name, "ConfigError");
      assert.match(err.message, /compose_agent\.token .*at least 16 bytes.*a key of 15 bytes/);
      assert.ok(!err.message.includes("é"));
      return true;
    },
  );
});

Deno.test("signedFetch refreshes the bearer after a 401 and retries once; never sends the key", async () => {
  let current = "old-token";
  let refreshed = 0;
  const bearer = {
    current: () => current,
    refresh: () => {
      refreshed++;
      current = "new-token";
      return Promise.resolve(true);
    },
    close: () => {},
  };
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const auth = req.headers.get("authorization") ?? "";
    seen.push(`${auth}|${req.headers.get("x-request-id")}`);
    return new Response(null, { status: auth === "Bearer new-token" ? 204 : 401 });
  });
  try {
    const res = await signedFetch(`http://127.0.0.1:${server.addr.port}/x`, {
      agentId: "a",
      token: staticToken("hmac-signing-key"),
      bearer,
    }, { json: { a: 1 }, headers: { Authorization: "Bearer hmac-signing-key" } });
    assert.equal(res.status, 204);
    assert.equal(refreshed, 1);
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0].split("|")[1], seen[1].split("|")[1], "each attempt has a new id");
    assert.ok(seen.every((s) => !s.includes("hmac-signing-key")), "the key is never sent");
  } finally {
    await server.shutdown();
  }
});

Deno.test("signedFetch with no bearer, or one equal to the key, sends no Authorization", async () => {
  const seen: Array<string | null> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    seen.push(req.headers.get("authorization"));
    return new Response(null, { status: req.headers.has("x-agent-signature") ? 204 : 400 });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/x`;
    const key = staticToken("the-one-hmac-key");
    assert.equal((await signedFetch(url, { agentId: "a", token: key })).status, 204);
    assert.equal((await signedFetch(url, { agentId: "a", token: key, bearer: key })).status, 204);
    const none = staticToken("");
    assert.equal((await signedFetch(url, { agentId: "a", token: key, bearer: none })).status, 204);
    assert.deepEqual(seen, [null, null, null]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("Vault reads are logged in words the secret scrubber leaves readable", async () => {
  const path = "/v1/kv/d/compose_agent_token";
  const tokens = new Map<string, string>();
  const vault = fakeVault(tokens, "right");
  const lines: string[] = [];
  const src = new VaultTokenSource({
    address: vault.url,
    vaultToken: "right",
    prefix: "kv",
    deploymentHash: "d",
    key: "compose_agent_token",
    fallback: "",
    minRefreshGapMs: 0,
    log: createLogger({ service: "t", sink: (l) => lines.push(l) }),
  });
  try {
    await src.start(); // 404: no key there yet
    tokens.set(path, "a-key-of-enough-bytes-0123");
    assert.equal(await src.refresh("test"), true);
    const msgs = lines.map((l) => JSON.parse(l).msg as string);
    assert.ok(msgs.length >= 2, msgs.join("; "));
    for (const msg of msgs) assert.doesNotMatch(msg, /REDACTED/, msg);
  } finally {
    src.close();
    await vault.close();
  }
});
