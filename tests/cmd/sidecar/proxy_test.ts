import assert from "node:assert/strict";
import { post, startAgent, startSidecar, TOKEN } from "./fixtures.ts";
import { rawRequest } from "../../support/raw_agent.ts";

const PURCHASE = { task: "purchase", card: "4532-0151-1283-0366" };

async function trace(base: string, id: string) {
  return await (await fetch(`${base}/trace/${id}`)).json();
}

Deno.test("403 for a card at permanent (and forever) retention, with the block body", async () => {
  const agent = startAgent();
  for (const retention of ["permanent", "forever"] as const) {
    const sc = await startSidecar({ agent_url: agent.url, trust_level: "trusted", retention });
    try {
      const r = await post(sc.url, PURCHASE);
      assert.equal(r.status, 403);
      assert.equal(r.json.blocked, true);
      assert.equal(r.json.reason, "credit_card");
      assert.match(String(r.json.error), /^Privacy Violation: /);
      assert.equal(r.json.trace_id, r.headers.get("x-agent-trace-id"));
      for (const v of ["4532 0151 1283 0366", "4532015112830366"]) {
        assert.equal((await post(sc.url, { v })).status, 403, v);
      }
      assert.equal((await post(sc.url, { n: 4532015112830366 })).status, 403, "a JSON number");
      assert.equal((await post(sc.url, { "4532015112830366": 1 })).status, 403, "a key");
      assert.equal(
        (await post(sc.url, { a: [{ b: { c: ["x", "4111 1111 1111 1111"] } }] })).status,
        403,
      );
      assert.equal((await post(sc.url, { v: "1234-5678-9012-3456" })).status, 200, "Luhn fails");
    } finally {
      await sc.close();
    }
  }
  assert.ok(
    agent.received.every((r) => !r.body.includes("4532")),
    "blocked bodies never reach the agent",
  );
  await agent.close();
});

Deno.test("SSN blocked unless retention is ephemeral; a card passes at temporary", async () => {
  const agent = startAgent();
  const temp = await startSidecar({ agent_url: agent.url });
  const eph = await startSidecar({ agent_url: agent.url, retention: "ephemeral" });
  try {
    const r = await post(temp.url, { ssn: "078-05-1120" });
    assert.equal(r.status, 403);
    assert.equal(r.json.reason, "ssn");
    assert.equal((await post(temp.url, { ssn: "078 05 1120" })).status, 403);
    assert.equal((await post(temp.url, { ssn: 78051120 })).status, 200, "8 digits");
    assert.equal((await post(temp.url, { tin: "900-12-3456" })).status, 403, "an ITIN too");
    assert.equal((await post(temp.url, { ssn: 123456789 })).status, 403, "bare, under an ssn key");
    assert.equal((await post(temp.url, { order_id: 123456789 })).status, 200, "no SSN context");
    assert.equal((await post(eph.url, { ssn: "078-05-1120" })).status, 200);
    assert.equal((await post(temp.url, PURCHASE)).status, 200);
  } finally {
    await temp.close();
    await eph.close();
    await agent.close();
  }
});

Deno.test("449 for an untrusted agent; 200 with the token; 449 again with 'true'", async () => {
  const agent = startAgent();
  const sc = await startSidecar({
    agent_url: agent.url,
    trust_level: "untrusted",
    override_token: TOKEN,
  });
  try {
    const w = await post(sc.url, { q: 1 });
    assert.equal(w.status, 449);
    assert.equal(w.json.requires_override, true);
    assert.equal(w.json.trust_score, 2, "untrusted 0 + reversible 2");
    assert.match(String(w.json.warning), /Low trust score \(2\/10\)/);
    assert.equal(w.json.trace_id, w.headers.get("x-agent-trace-id"));
    const ok = await post(sc.url, { q: 1 }, {
      "X-User-Override": TOKEN,
      "X-Agent-Trace-ID": "ov-1",
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("x-agent-quarantined"), "true", "untrusted is quarantined");
    assert.equal(ok.headers.get("x-agent-trust-score"), "2");
    assert.ok(!agent.received.at(-1)!.headers.has("x-user-override"), "never forwarded");
    const t = await trace(sc.url, "ov-1");
    assert.deepEqual(t.records.map((r: { type: string }) => r.type), [
      "request",
      "quarantine",
      "response",
    ]);
    assert.equal((await post(sc.url, { q: 1 }, { "X-User-Override": "true" })).status, 449);
    assert.equal((await post(sc.url, { q: 1 }, { "X-User-Override": TOKEN + "x" })).status, 449);
    const blocked = await post(sc.url, { ssn: "078-05-1120" }, { "X-User-Override": TOKEN });
    assert.equal(blocked.status, 403, "an override never lifts a privacy block");
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("legacy override accepts 'true'; a weak token disables overrides and logs why", async () => {
  const agent = startAgent();
  const legacy = await startSidecar({
    agent_url: agent.url,
    trust_level: "unknown",
    legacy_override: true,
  });
  const weak = await startSidecar({
    agent_url: agent.url,
    trust_level: "unknown",
    override_token: "password",
  });
  try {
    assert.equal((await post(legacy.url, {}, { "X-User-Override": "true" })).status, 200);
    assert.ok(legacy.logs.some((l) => l.includes("IATP_LEGACY_OVERRIDE") && l.includes('"warn"')));
    assert.equal((await post(weak.url, {}, { "X-User-Override": "password" })).status, 449);
    assert.ok(weak.logs.some((l) => /override disabled/.test(l)));
    assert.ok(!weak.logs.some((l) => l.includes('"password"')), "the secret is not logged");
  } finally {
    await legacy.close();
    await weak.close();
    await agent.close();
  }
});

Deno.test("an allow-listed header the client's Connection names is not forwarded", async () => {
  const agent = startAgent(5_000, 19621);
  const sc = await startSidecar({
    agent_url: agent.url,
    port: 19622,
    forward_headers: ["x-tenant", "accept", "user-agent"],
  });
  try {
    // Hop-by-hop for the client's connection only (RFC 9110 section 7.6.1); a name in any case,
    // in a second Connection line too.
    const r = await rawRequest(
      sc.url,
      "POST /proxy/hop HTTP/1.1\r\nConnection: X-Tenant\r\nConnection: keep-alive , USER-agent" +
        "\r\nX-Tenant: acme\r\nUser-Agent: probe/1\r\nAccept: text/plain\r\ncontent-type: application/json",
      "{}",
    );
    assert.equal(r.status, 200);
    const got = agent.received.at(-1)!.headers;
    assert.equal(got.get("x-tenant"), null);
    assert.equal(got.get("user-agent"), null);
    assert.equal(got.get("accept"), "text/plain");
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("an absolute-form target with userinfo is refused before it reaches the agent", async () => {
  const agent = startAgent(5_000, 19623);
  const sc = await startSidecar({ agent_url: agent.url, port: 19624 });
  try {
    for (const userinfo of ["user:secret-pw@", "127.0.0.1:19624@"]) {
      const r = await rawRequest(
        sc.url,
        `POST http://${userinfo}127.0.0.1:19624/proxy/u HTTP/1.1`,
        "{}",
      );
      assert.equal(r.status, 400, userinfo);
      assert.equal(JSON.parse(r.body).error, "userinfo in the request-target", userinfo);
    }
    assert.equal(agent.received.length, 0);
    const ok = await rawRequest(sc.url, "POST http://127.0.0.1:19624/proxy/u HTTP/1.1", "{}");
    assert.equal(ok.status, 200);
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("forwarding: path, query, content type, trace id, allow-listed headers, status", async () => {
  const agent = startAgent();
  const sc = await startSidecar({ agent_url: agent.url, forward_headers: ["x-tenant", "accept"] });
  try {
    const r = await post(sc.url, { a: 1 }, {
      "content-type": "application/json; charset=utf-8",
      "X-Agent-Trace-ID": "t-fwd",
      "X-Tenant": "acme",
      "X-Secret-Internal": "no",
      "Authorization": "Bearer abcdefgh",
    }, "/proxy/v1/tasks?x=1");
    assert.equal(r.status, 200);
    assert.equal(r.json.path, "/v1/tasks?x=1");
    assert.equal(r.json.echo, '{"a":1}', "the body is forwarded byte for byte");
    const got = agent.received.at(-1)!.headers;
    assert.equal(got.get("content-type"), "application/json; charset=utf-8");
    assert.equal(got.get("x-agent-trace-id"), "t-fwd");
    assert.equal(got.get("x-tenant"), "acme");
    assert.equal(got.get("x-secret-internal"), null);
    assert.equal(got.get("authorization"), null);
    assert.equal(r.headers.get("x-agent-trace-id"), "t-fwd");
    assert.match(r.headers.get("x-agent-latency-ms")!, /^\d+$/);
    assert.equal(r.headers.get("x-agent-trust-score"), "7");
    assert.equal(r.headers.get("x-agent-quarantined"), null);
    const teapot = await post(sc.url, {}, {}, "/proxy/status/418");
    assert.equal(teapot.status, 418);
    assert.equal(teapot.text, "custom");
    assert.equal(teapot.headers.get("content-type"), "text/plain");
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("trace ids: unsafe client ids are replaced by a UUID", async () => {
  const agent = startAgent();
  const sc = await startSidecar({ agent_url: agent.url });
  try {
    for (const bad of ["../../etc/passwd", "a b", "x".repeat(129), "trace/../x"]) {
      const r = await post(sc.url, {}, { "X-Agent-Trace-ID": bad });
      const id = r.headers.get("x-agent-trace-id")!;
      assert.match(id, /^[0-9a-f-]{36}$/, bad);
      assert.equal(agent.received.at(-1)!.headers.get("x-agent-trace-id"), id);
    }
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("trace ids: a request id made for the request is its trace id too; kept ids are the client's", async () => {
  const agent = startAgent();
  const sc = await startSidecar({ agent_url: agent.url });
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  try {
    const seen = new Set<string>();
    // Neither id sent, or neither safe to keep (one trace id holds a card): one UUID for both.
    for (
      const headers of [
        {},
        {},
        { "X-Request-Id": "a b", "X-Agent-Trace-ID": "../x" },
        { "X-Agent-Trace-ID": "4532015112830366" },
      ] as Record<string, string>[]
    ) {
      const r = await post(sc.url, {}, headers);
      const id = r.headers.get("x-agent-trace-id")!;
      assert.match(id, UUID);
      assert.equal(r.headers.get("x-request-id"), id);
      assert.equal(agent.received.at(-1)!.headers.get("x-agent-trace-id"), id);
      assert.ok(!seen.has(id), "a new id per request");
      seen.add(id);
      const records = (await trace(sc.url, id)).records;
      assert.deepEqual(records.map((x: { type: string }) => x.type), ["request", "response"]);
    }
    // A kept request id is not taken as the trace id, nor a kept trace id as the request id.
    const own = await post(sc.url, {}, { "X-Request-Id": "rid-1" });
    assert.equal(own.headers.get("x-request-id"), "rid-1");
    assert.match(own.headers.get("x-agent-trace-id")!, UUID);
    const kept = await post(sc.url, {}, { "X-Agent-Trace-ID": "t-1" });
    assert.equal(kept.headers.get("x-agent-trace-id"), "t-1");
    assert.match(kept.headers.get("x-request-id")!, UUID);
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("400 Invalid JSON for non-objects, bad UTF-8 and deep nesting; 413 over the limit", async () => {
  const agent = startAgent();
  const sc = await startSidecar({ agent_url: agent.url, max_body_bytes: 4096, max_json_depth: 32 });
  try {
    const bodies = ["not json", "[1,2]", '"s"', "42", "null", "", '{"a":', "[".repeat(3000)];
    // Cut off right after a repeated (so predicted) one-byte member name's colon.
    bodies.push('[{"a":1},{"a":1},{"a":', '{"x":[{"":1},{"":1},{"":');
    for (const body of bodies) {
      const r = await post(sc.url, body);
      assert.equal(r.status, 400, body.slice(0, 20));
      assert.equal(r.json.error, "Invalid JSON");
      assert.ok(r.json.trace_id);
    }
    const deep = '{"a":'.repeat(100) + "1" + "}".repeat(100);
    const d = await post(sc.url, deep);
    assert.equal(d.status, 400);
    assert.match(String(d.json.detail), /nesting deeper than 32/);
    const bad = await fetch(`${sc.url}/proxy`, {
      method: "POST",
      body: new Uint8Array([0x7b, 0xff, 0x7d]),
    });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    const big = await post(sc.url, { pad: "x".repeat(5000) });
    assert.equal(big.status, 413);
    assert.equal(big.json.error, "Request body too large");
    assert.ok(big.headers.get("x-agent-trace-id"));
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"pad":"'));
        for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(1000).fill(120));
        c.enqueue(new TextEncoder().encode('"}'));
        c.close();
      },
    });
    const chunked = await fetch(`${sc.url}/proxy`, { method: "POST", body: stream });
    assert.equal(chunked.status, 413, "a chunked body is cut off at the limit");
    await chunked.body?.cancel();
    assert.equal(agent.received.length, 0, "nothing invalid reached the agent");
    assert.equal((await post(sc.url, '{"ok":true}')).status, 200, "still serving");
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("502 with the agent down, 504 on a slow agent", async () => {
  const agent = startAgent(10_000);
  const down = await startSidecar({ agent_url: "http://127.0.0.1:9" });
  const slow = await startSidecar({ agent_url: agent.url, upstream_timeout: 300 });
  try {
    const r = await post(down.url, {}, { "X-Agent-Trace-ID": "down-1" });
    assert.equal(r.status, 502);
    assert.equal(r.json.error, "Failed to reach backend agent");
    const t = await trace(down.url, "down-1");
    assert.equal(t.records.at(-1).type, "error");
    const s = await post(slow.url, {}, {}, "/proxy/slow");
    assert.equal(s.status, 504);
    assert.equal(s.json.error, "Backend agent timeout");
    assert.equal((await post(slow.url, {})).status, 200, "fast routes still work");
  } finally {
    await down.close();
    await slow.close();
    await agent.close();
  }
});

Deno.test("recorded payloads and logs are scrubbed, numbers included", async () => {
  const agent = startAgent();
  const sc = await startSidecar({
    agent_url: agent.url,
    retention: "ephemeral",
    trust_level: "trusted",
  });
  try {
    const body = {
      card: "4532-0151-1283-0366",
      n: 4532015112830366,
      ssn: "078-05-1120",
      nested: [{ k: "ssn 078051120", "4111111111111111": true }],
    };
    const r = await post(sc.url, body, { "X-Agent-Trace-ID": "scrub-1" });
    assert.equal(r.status, 200);
    const t = await trace(sc.url, "scrub-1");
    const text = JSON.stringify(t);
    // No run of the card's first digits of its own: a port, a latency or a timestamp may hold
    // "4532" inside a longer number, which says nothing of the card.
    const cardStart = /(?<![\d.])4532(?!\d)|45320151/;
    assert.doesNotMatch(text, cardStart);
    const secrets = ["078-05-1120", "078051120", "4111111111111111"];
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `${secret} in ${text}`);
    }
    const payload = JSON.parse(t.records[0].details.payload);
    assert.deepEqual(payload, {
      card: "[CREDIT_CARD_REDACTED]",
      n: "[CREDIT_CARD_REDACTED]",
      ssn: "[SSN_REDACTED]",
      nested: [{ k: "ssn [SSN_REDACTED]", "[CREDIT_CARD_REDACTED]": true }],
    });
    assert.deepEqual(t.records[0].details.sensitive, { credit_card: true, ssn: true });
    const logs = sc.logs.join("\n");
    assert.doesNotMatch(logs, cardStart);
    for (const secret of secrets) assert.ok(!logs.includes(secret), `${secret} in the logs`);
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("recorded payloads: cut to trace_payload_bytes, secret shapes scrubbed on lookup", async () => {
  const agent = startAgent();
  const sc = await startSidecar({
    agent_url: agent.url,
    trust_level: "trusted",
    trace_payload_bytes: 40,
  });
  try {
    const small = { a: "Bearer abcdefgh12345678" };
    assert.equal((await post(sc.url, small, { "X-Agent-Trace-ID": "cut-1" })).status, 200);
    const long = { note: "é".repeat(30) + "Bearer abcdefgh12345678" + "x".repeat(500) };
    assert.equal((await post(sc.url, long, { "X-Agent-Trace-ID": "cut-2" })).status, 200);
    const card = { card: "4532015112830366", pad: "y".repeat(100) };
    assert.equal((await post(sc.url, card, { "X-Agent-Trace-ID": "cut-3" })).status, 200);
    const [r1, r2, r3] = await Promise.all(
      ["cut-1", "cut-2", "cut-3"].map((id) => trace(sc.url, id)),
    );
    const d1 = r1.records[0].details;
    assert.equal(d1.payload, '{"a":"Bearer [REDACTED]"}');
    assert.equal(d1.payload_truncated, undefined);
    assert.equal(d1.payload_bytes, JSON.stringify(small).length);
    const d2 = r2.records[0].details;
    assert.equal(d2.payload, JSON.stringify(long).slice(0, 40));
    assert.equal(d2.payload_truncated, true);
    assert.equal(d2.payload_bytes, new TextEncoder().encode(JSON.stringify(long)).length);
    const d3 = r3.records[0].details;
    assert.equal(d3.payload, '{"card":"[CREDIT_CARD_REDACTED]","pad":"');
    assert.equal(d3.payload_truncated, true);
    assert.deepEqual(d3.sensitive, { credit_card: true, ssn: false });
    assert.deepEqual(d3.found_in, ["body"]);
    assert.deepEqual(r1.records.map((r: { type: string }) => r.type), ["request", "response"]);
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("header values are scanned whatever was seen before: a repeated card is blocked", async () => {
  const agent = startAgent();
  const sc = await startSidecar({
    agent_url: agent.url,
    trust_level: "trusted",
    retention: "permanent",
    forward_headers: ["x-note"],
  });
  try {
    for (let i = 0; i < 2; i++) {
      assert.equal((await post(sc.url, { i }, { "x-note": "plain words" })).status, 200);
      const r = await post(sc.url, { i }, { "x-note": "card 4532015112830366" });
      assert.equal(r.status, 403, `round ${i}`);
      assert.equal(r.json.reason, "credit_card");
      const encoded = await post(sc.url, { i }, { "x-note": "4532%2D0151%2D1283%2D0366" });
      assert.equal(encoded.status, 403, `percent-encoded, round ${i}`);
    }
    assert.ok(agent.received.every((r) => r.headers.get("x-note") === "plain words"));
  } finally {
    await sc.close();
    await agent.close();
  }
});
