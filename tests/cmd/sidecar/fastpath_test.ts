import assert from "node:assert/strict";
import { post, startAgent, startSidecar } from "./fixtures.ts";

Deno.test("/proxy served before the router: same answers, request id and metrics label", async () => {
  const agent = startAgent();
  const sc = await startSidecar({ agent_url: agent.url });
  try {
    const fast = await post(sc.url, { a: 1 }, { "X-Request-Id": "req-1" }, "/proxy/x?y=1");
    assert.equal(fast.status, 200);
    assert.equal(fast.json.path, "/x?y=1");
    assert.equal(fast.headers.get("x-request-id"), "req-1");
    // A percent-escaped path takes the router; it reaches the same handler.
    const routed = await post(sc.url, { a: 1 }, {}, "/proxy/%78?y=1");
    assert.equal(routed.status, 200);
    assert.equal(routed.json.path, "/%78?y=1");
    assert.match(routed.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
    const get = await fetch(`${sc.url}/proxy`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    await get.body?.cancel();
    const metrics = await (await fetch(`${sc.url}/metrics`)).text();
    assert.match(
      metrics,
      /iatp_http_requests_total\{method="POST",route="\/proxy\/\*",status="200",service="sidecar"\} 2/,
    );
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("a pooled connection still times out after fast exchanges on it", async () => {
  const agent = startAgent(10_000);
  const sc = await startSidecar({ agent_url: agent.url, upstream_timeout: 300 });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await post(sc.url, {})).status, 200);
    const slow = await post(sc.url, {}, {}, "/proxy/slow");
    assert.equal(slow.status, 504, "the deadline fired (the agent would answer 200 much later)");
    assert.equal((await post(sc.url, {})).status, 200);
  } finally {
    await sc.close();
    await agent.close();
  }
});
