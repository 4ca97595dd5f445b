/**
 * The sidecar in front of a raw-socket agent: invalid framing and statuses become 502 with the
 * trace id, a POST never reaches the agent twice, and forwarded paths are normalised or
 * refused with 400.
 */
import assert from "node:assert/strict";
import { type Arrival, ok, rawRequest, startRawAgent } from "../../support/raw_agent.ts";
import { post, startSidecar } from "./fixtures.ts";

const BAD: Array<[string, string]> = [
  [
    "CL and TE",
    "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
  ["conflicting CL", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc"],
  ["xchunkedx", "HTTP/1.1 200 OK\r\ntransfer-encoding: xchunkedx\r\n\r\n0\r\n\r\n"],
  ["status 2000", "HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n"],
  ["status 99", "HTTP/1.1 99 OK\r\ncontent-length: 0\r\n\r\n"],
  ["status 600", "HTTP/1.1 600 OK\r\ncontent-length: 0\r\n\r\n"],
  ["status 999", "HTTP/1.1 999 Odd\r\ncontent-length: 0\r\n\r\n"],
  ["status 2x0", "HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n"],
  ["101 to a POST", "HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n"],
];

Deno.test("invalid agent responses: 502 with the trace id, connection never reused", async () => {
  for (const [name, bad] of BAD) {
    const agent = startRawAgent((a) => (a.n === 1 ? bad : ok(`{"n":${a.n}}`)));
    const sc = await startSidecar({ agent_url: agent.url });
    try {
      assert.equal((await post(sc.url, {})).status, 200, name);
      const r = await post(sc.url, {}, { "X-Agent-Trace-ID": `bad-${name.replace(/\W/g, "")}` });
      assert.equal(r.status, 502, name);
      assert.equal(r.json.error, "Invalid response from backend agent", name);
      assert.equal(r.json.trace_id, r.headers.get("x-agent-trace-id"), name);
      assert.match(String(r.json.trace_id), /^bad-/);
      assert.equal((await post(sc.url, {})).status, 200, `${name}: still serving`);
      assert.equal(agent.connections, 2, `${name}: the bad connection was dropped`);
      assert.equal(agent.arrivals.length, 3, `${name}: nothing sent twice`);
    } finally {
      await sc.close();
      agent.close();
    }
  }
});

Deno.test("100 Continue is skipped; 204 and 304 pass through without a body", async () => {
  const agent = startRawAgent((a) =>
    a.n === 0
      ? "HTTP/1.1 100 Continue\r\n\r\n" + ok('{"after":"continue"}')
      : a.n === 1
      ? "HTTP/1.1 204 No Content\r\n\r\n"
      : "HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n"
  );
  const sc = await startSidecar({ agent_url: agent.url });
  try {
    const r = await post(sc.url, {});
    assert.equal(r.status, 200);
    assert.equal(r.text, '{"after":"continue"}');
    const empty = await post(sc.url, {});
    assert.equal(empty.status, 204);
    assert.equal(empty.text, "");
    assert.equal((await post(sc.url, {})).status, 304);
  } finally {
    await sc.close();
    agent.close();
  }
});

Deno.test("a POST is never delivered twice through the sidecar", async () => {
  // The agent reads the second POST on its pooled connection and drops the connection without
  // answering. Before: the sidecar re-sent it (2 client calls, 3 POSTs at the agent).
  const agent = startRawAgent((a) => (a.n === 1 ? "close" : ok(`{"n":${a.n}}`)));
  const sc = await startSidecar({ agent_url: agent.url });
  try {
    assert.equal((await post(sc.url, { call: 1 })).status, 200);
    const second = await post(sc.url, { call: 2 }, { "X-Agent-Trace-ID": "dup-1" });
    assert.equal(second.status, 502);
    assert.equal(second.json.trace_id, "dup-1");
    assert.equal(second.headers.get("x-agent-trace-id"), "dup-1");
    assert.deepEqual(agent.arrivals.map((a: Arrival) => a.body), ['{"call":1}', '{"call":2}']);
  } finally {
    await sc.close();
    agent.close();
  }
});

Deno.test("an agent that closes after every answer gets each POST once", async () => {
  const agent = startRawAgent((a) => ({ bytes: ok(`{"n":${a.n}}`), close: true }));
  const sc = await startSidecar({ agent_url: agent.url });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await post(sc.url, { i })).status);
    const answered = statuses.filter((s) => s === 200).length;
    assert.ok(statuses.every((s) => s === 200 || s === 502), statuses.join());
    assert.equal(agent.arrivals.length, answered, "every arrival answered once, none twice");
  } finally {
    await sc.close();
    agent.close();
  }
});

Deno.test("forwarded paths: dot segments removed under the base path, escapes refused", async () => {
  const agent = startRawAgent((a) => ok(JSON.stringify({ line: a.line })));
  const sc = await startSidecar({ agent_url: `${agent.url}/api/` });
  try {
    const forwarded: Array<[string, string]> = [
      ["/proxy/a/../b?x=1", "POST /api/b?x=1 HTTP/1.1"],
      ["/proxy/a/%2e%2E/b", "POST /api/b HTTP/1.1"],
      ["/proxy/./v1/tasks", "POST /api/v1/tasks HTTP/1.1"],
      ["/proxy/a/b/..", "POST /api/a/ HTTP/1.1"],
      ["/proxy", "POST /api/ HTTP/1.1"],
      ["/proxy/a%2Fb", "POST /api/a%2Fb HTTP/1.1"],
    ];
    for (const [target, line] of forwarded) {
      const r = await rawRequest(sc.url, `POST ${target} HTTP/1.1`, "{}");
      assert.equal(r.status, 200, target);
      assert.equal(JSON.parse(r.body).line, line, target);
    }
    const before = agent.arrivals.length;
    for (
      const target of [
        "/proxy/../foo",
        "/proxy/%2e%2e/foo",
        "/proxy/a/../../foo",
        "/proxy/..%2f..%2fetc",
        "/proxy/a%00b",
        "/proxy/a\\..\\b",
        "/proxy/x?a=%zz",
      ]
    ) {
      const r = await rawRequest(sc.url, `POST ${target} HTTP/1.1`, "{}");
      assert.equal(r.status, 400, target);
      const body = JSON.parse(r.body);
      assert.equal(body.error, "Invalid path", target);
      assert.ok(body.trace_id, target);
      assert.equal(r.headers.get("x-agent-trace-id"), body.trace_id, target);
    }
    assert.equal(agent.arrivals.length, before, "nothing refused reached the agent");
  } finally {
    await sc.close();
    agent.close();
  }
});

Deno.test("a path that would reach an agent at / starting with // is refused", async () => {
  const agent = startRawAgent((a) => ok(JSON.stringify({ line: a.line })), { port: 19631 });
  const sc = await startSidecar({ agent_url: agent.url, port: 19632 });
  try {
    // `//evil.example/x` names the host evil.example to whatever resolves it against a base URL.
    for (
      const target of [
        "/proxy//evil.example/x",
        "/proxy/.//evil.example/x",
        "/proxy/a/..//x",
        "/proxy//",
      ]
    ) {
      const r = await rawRequest(sc.url, `POST ${target} HTTP/1.1`, "{}");
      assert.equal(r.status, 400, target);
      assert.equal(JSON.parse(r.body).error, "Invalid path", target);
    }
    assert.equal(agent.arrivals.length, 0, "nothing refused reached the agent");
    // An empty segment further in stays as written.
    const r = await rawRequest(sc.url, "POST /proxy/a//b HTTP/1.1", "{}");
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).line, "POST /a//b HTTP/1.1");
  } finally {
    await sc.close();
    agent.close();
  }
});

Deno.test("concurrent POSTs reach the agent with their own bodies, on new and pooled connections", async () => {
  // Every third answer closes its connection: later requests go out on new connections (their
  // body written once connected) while others reuse pooled ones.
  const agent = startRawAgent((a) =>
    a.n % 3 === 0 ? { bytes: ok(a.body), close: true } : ok(a.body)
  );
  const sc = await startSidecar({ agent_url: agent.url });
  try {
    const bodies = Array.from({ length: 40 }, (_, i) => ({ i, pad: "p".repeat((i * 37) % 700) }));
    for (const wave of [bodies.slice(0, 20), bodies.slice(20)]) {
      const answers = await Promise.all(wave.map((b) => post(sc.url, b)));
      answers.forEach((r, k) => {
        assert.ok(r.status === 200 || r.status === 502, String(r.status));
        if (r.status === 200) assert.equal(r.text, JSON.stringify(wave[k]));
      });
    }
    const sent = new Set(bodies.map((b) => JSON.stringify(b)));
    const arrived = agent.arrivals.map((a: Arrival) => a.body);
    assert.ok(arrived.every((b) => sent.has(b)), "no body mixed with another");
    assert.equal(new Set(arrived).size, arrived.length, "none delivered twice");
  } finally {
    await sc.close();
    agent.close();
  }
});

/** Streamed answers (chunked, or over 256 KiB) whose body fails before its first byte. */
const BAD_FROM_THE_START: Array<[string, string | { bytes: string; close: true }]> = [
  [
    "chunk size not hex",
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
  ],
  [
    "chunk size too large",
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
  ],
  [
    "large body cut short",
    { bytes: "HTTP/1.1 200 OK\r\ncontent-length: 300000\r\n\r\n", close: true },
  ],
];

Deno.test("a streamed answer that fails before its first byte is a 502 with a JSON body", async () => {
  // Before: the head waited for the first piece, whose failure closed the client's connection
  // with nothing written (curl: "Empty reply from server"), and the recorder said 200.
  for (const [name, bad] of BAD_FROM_THE_START) {
    const agent = startRawAgent(() => bad);
    const sc = await startSidecar({ agent_url: agent.url });
    try {
      const id = `start-${name.replace(/\W/g, "")}`;
      const r = await post(sc.url, {}, { "X-Agent-Trace-ID": id });
      assert.equal(r.status, 502, name);
      assert.equal(r.headers.get("content-type"), "application/json", name);
      assert.deepEqual(
        r.json,
        { error: "Invalid response from backend agent", trace_id: id },
        name,
      );
      assert.equal(r.headers.get("x-agent-trace-id"), id, name);
      const t = await (await fetch(`${sc.url}/trace/${id}`)).json();
      const types = t.records.map((rec: { type: string }) => rec.type);
      assert.deepEqual(types, ["request", "error"], name);
      assert.equal(t.records[1].details.status, 502, name);
    } finally {
      await sc.close();
      agent.close();
    }
  }
});

Deno.test("a streamed answer cut after its first piece: the client sees it cut, the recorder an error", async () => {
  const agent = startRawAgent(() => ({
    bytes: "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
    close: true,
  }));
  const sc = await startSidecar({ agent_url: agent.url });
  try {
    const res = await fetch(`${sc.url}/proxy`, {
      method: "POST",
      headers: { "content-type": "application/json", "X-Agent-Trace-ID": "cut-1" },
      body: "{}",
    });
    assert.equal(res.status, 200);
    await assert.rejects(res.text());
    const t = await (await fetch(`${sc.url}/trace/cut-1`)).json();
    const types = t.records.map((rec: { type: string }) => rec.type);
    assert.deepEqual(types, ["request", "response", "error"]);
    assert.equal(t.records[2].details.error, "Invalid response from backend agent");
    assert.equal(t.records[2].details.status, 200);
  } finally {
    await sc.close();
    agent.close();
  }
});

/**
 * An agent that answers a large request as soon as its head is in, and reads no more of its
 * body (a 413, as servers with a body limit do): with `close`, it then closes the connection.
 * Smaller requests are read whole and answered 200.
 */
function startEarlyAnswerAgent(port: number, close: boolean) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const conns = new Set<Deno.Conn>();
  const enc = new TextEncoder();
  const serve = async (conn: Deno.Conn) => {
    const buf = new Uint8Array(64 * 1024);
    let text = "";
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) return;
        text += new TextDecoder().decode(buf.subarray(0, n));
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) continue;
        const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        if (length > 1024 * 1024) {
          await conn.write(
            enc.encode("HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig!"),
          );
          if (close) return;
          await new Promise(() => {}); // reads no more, keeps the connection
        }
        if (text.length < end + 4 + length) continue;
        text = text.slice(end + 4 + length);
        await conn.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
      }
    } catch {
      /* closed */
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed already */ }
    }
  };
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serve(conn);
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      listener.close();
      for (const c of conns) c.close();
    },
  };
}

Deno.test("an agent that answers before it has read the request body: its answer reaches the client", async () => {
  // A body far larger than the socket buffers of loopback: its write cannot finish while the
  // agent reads nothing. Before, the sidecar read no answer until the whole body was written:
  // 504 after upstream_timeout when the agent kept the connection, 502 when it closed it.
  const body = JSON.stringify({ pad: "x".repeat(24 * 1024 * 1024) });
  for (const [close, ports] of [[false, [19741, 19742]], [true, [19743, 19744]]] as const) {
    const agent = startEarlyAnswerAgent(ports[0], close);
    const sc = await startSidecar({
      agent_url: agent.url,
      port: ports[1],
      trust_level: "trusted",
      max_body_bytes: 32 * 1024 * 1024,
      upstream_timeout: 10_000,
    });
    try {
      const early = await post(sc.url, body);
      assert.equal(early.status, 413, `close ${close}: ${early.text}`);
      assert.equal(early.text, "big!");
      // The half-written connection is not reused: the next request gets its own answer.
      const next = await post(sc.url, { small: true });
      assert.equal(next.status, 200);
      assert.equal(next.text, "ok");
      assert.equal((await fetch(`${sc.url}/health`).then((r) => r.json())).status, "healthy");
    } finally {
      await sc.close();
      agent.close();
    }
  }
});
