/**
 * The sidecar's own answers (its health, a refusal, a block, a failed exchange) carry
 * `X-Content-Type-Options: nosniff` and the no-content `Content-Security-Policy`; an answer
 * passed on from the agent carries the agent's fields only, on the raw path and on the router's
 * (a percent-escaped path) alike.
 * @module
 */
import assert from "node:assert/strict";
import { post, startSidecar } from "./fixtures.ts";

const CSP = "default-src 'none'; frame-ancestors 'none'";

Deno.test("the sidecar's own answers carry both fields; the agent's answers pass on without them", async () => {
  // An agent whose answer names a content type a browser could run.
  const agent = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    return new Response("<p>agent</p>", { headers: { "content-type": "text/html" } });
  });
  const agentUrl = `http://127.0.0.1:${agent.addr.port}`;
  const sc = await startSidecar({
    agent_url: agentUrl,
    trust_level: "trusted",
    retention: "permanent",
  });
  try {
    for (const path of ["/proxy/page", "/proxy/p%61ge"]) {
      const r = await post(sc.url, { task: "hello" }, {}, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.text, "<p>agent</p>");
      assert.equal(r.headers.get("x-content-type-options"), null, path);
      assert.equal(r.headers.get("content-security-policy"), null, path);
      assert.equal(r.headers.get("content-type"), "text/html", path);
    }
    const own = [
      await post(sc.url, "{not json", {}, "/proxy/page"),
      await post(sc.url, { card: "4532-0151-1283-0366" }, {}, "/proxy/page"),
      await post(sc.url, { card: "4532-0151-1283-0366" }, {}, "/proxy/p%61ge"),
    ];
    assert.deepEqual(own.map((r) => r.status), [400, 403, 403]);
    for (const r of own) {
      assert.equal(r.headers.get("x-content-type-options"), "nosniff");
      assert.equal(r.headers.get("content-security-policy"), CSP);
    }
    const health = await fetch(`${sc.url}/health`);
    await health.body?.cancel();
    assert.equal(health.headers.get("x-content-type-options"), "nosniff");
    assert.equal(health.headers.get("content-security-policy"), CSP);
  } finally {
    await sc.close();
    await agent.shutdown();
  }
  // The agent gone: the sidecar's 502 is its own.
  const gone = await startSidecar({ agent_url: agentUrl, trust_level: "trusted" });
  try {
    const r = await post(gone.url, { task: "hello" }, {}, "/proxy/page");
    assert.equal(r.status, 502);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("content-security-policy"), CSP);
  } finally {
    await gone.close();
  }
});
