/** Relay input validation, auth scopes, CORS, slow-consumer overflow and many subscribers. */
import assert from "node:assert/strict";
import { openSse, publish, startRelay } from "./relay_helpers.ts";

Deno.test("bad publishes are 400 (compat iatp) with a JSON error, never a crash", async () => {
  const relay = await startRelay({ max_payload_bytes: 64, compat: "iatp" });
  try {
    const post = async (body: string) => {
      const res = await fetch(`${relay.url}/publish`, { method: "POST", body });
      return { status: res.status, body: await res.json() };
    };
    const cases: Array<[string, string]> = [
      ["not json", "invalid JSON body"],
      ["[1,2]", "body must be a JSON object {topic, payload}"],
      ['{"payload":{}}', "invalid topic name"],
      ['{"topic":"has space","payload":{}}', "invalid topic name"],
      ['{"topic":"a/b","payload":{}}', "invalid topic name"],
      [`{"topic":"${"x".repeat(129)}","payload":{}}`, "invalid topic name"],
      ['{"topic":"t","payload":[1]}', "payload must be a JSON object"],
      ['{"topic":"t","payload":"s"}', "payload must be a JSON object"],
      ['{"topic":"t","payload":null}', "payload must be a JSON object"],
      ['{"topic":"t"}', "payload must be a JSON object"],
      [`{"topic":"t","payload":{"big":"${"y".repeat(100)}"}}`, "payload exceeds 64 bytes"],
    ];
    for (const [body, error] of cases) {
      const r = await post(body);
      assert.equal(r.status, 400, body);
      assert.equal(r.body.error, error, body);
      assert.equal(typeof r.body.request_id, "string");
    }
    assert.equal((await publish(relay.url, "ok.topic-1:x_y", { a: 1 })).status, 201);
  } finally {
    await relay.close();
  }
});

Deno.test("a publish JSON cannot carry as sent is refused on both paths, not stored altered", async () => {
  // JSON.parse reads 1e400 as Infinity, which the stored event wrote as null; a byte that is not
  // UTF-8 was stored as U+FFFD. Both paths: the raw one and the router's (a percent-escaped path).
  const enc = new TextEncoder();
  const cases: Array<[Uint8Array<ArrayBuffer>, string, string]> = [
    [
      enc.encode('{"topic":"t","payload":{"n":1e400}}'),
      "payload holds a number out of range",
      "finite_number",
    ],
    [
      enc.encode('{"topic":"t","payload":{"a":[{"n":-1e999}],"z":null}}'),
      "payload holds a number out of range",
      "finite_number",
    ],
    [
      Uint8Array.from([
        ...enc.encode('{"topic":"t","payload":{"s":"caf'),
        0xe9,
        ...enc.encode('"}}'),
      ]),
      "invalid JSON body",
      "json_invalid",
    ],
  ];
  for (const compat of ["iatp", "upstream"] as const) {
    const relay = await startRelay({ compat });
    try {
      for (const path of ["/publish", "/%70ublish"]) {
        for (const [body, error, type] of cases) {
          const res = await fetch(`${relay.url}${path}`, { method: "POST", body });
          const json = await res.json();
          const what = `${compat} ${path} ${new TextDecoder().decode(body)}`;
          if (compat === "iatp") {
            assert.equal(res.status, 400, what);
            assert.equal(json.error, error, what);
          } else {
            assert.equal(res.status, 422, what);
            assert.equal(json.detail[0].type, type, what);
          }
        }
        const fine = await fetch(`${relay.url}${path}`, {
          method: "POST",
          body: '{"topic":"ok","payload":{"n":1.7e308,"z":null,"s":"caf\u00e9 \ufffd"}}',
        });
        assert.equal(fine.status, compat === "iatp" ? 201 : 200, path);
        await fine.body?.cancel();
      }
      const topics = await (await fetch(`${relay.url}/topics`)).json();
      assert.deepEqual(topics.topics.map((t: { topic: string }) => t.topic), ["ok"]);
    } finally {
      await relay.close();
    }
  }
});

Deno.test("bad publishes are FastAPI's 422 with detail under compat upstream (the default)", async () => {
  const relay = await startRelay({ max_payload_bytes: 64 });
  try {
    const cases: Array<[string, string, unknown[]]> = [
      ["not json", "json_invalid", ["body"]],
      ["[1,2]", "model_attributes_type", ["body"]],
      ['{"payload":{}}', "missing", ["body", "topic"]],
      ['{"topic":5,"payload":{}}', "string_type", ["body", "topic"]],
      ['{"topic":"has space","payload":{}}', "value_error", ["body", "topic"]],
      ['{"topic":"t","payload":[1]}', "dict_type", ["body", "payload"]],
      ['{"topic":"t"}', "missing", ["body", "payload"]],
    ];
    for (const [body, type, loc] of cases) {
      const res = await fetch(`${relay.url}/publish`, { method: "POST", body });
      const json = await res.json();
      assert.equal(res.status, 422, body);
      assert.equal(json.detail[0].type, type, body);
      assert.deepEqual(json.detail[0].loc, loc, body);
      assert.equal(typeof json.error, "string");
      assert.equal(typeof json.request_id, "string");
    }
    const big = await publish(relay.url, "t", { big: "y".repeat(100) });
    assert.equal(big.status, 400, "a bound is iatp's own refusal in both modes");
    const r = await publish(relay.url, "ok.topic-1:x_y", { a: 1 });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "ok");
  } finally {
    await relay.close();
  }
});

Deno.test("bad subscriptions are 400; no topic at all is 422 under compat upstream", async () => {
  const relay = await startRelay();
  try {
    for (
      const q of ["topic=", "topic=a*", "topic=*.a", "topic=a b", "topic=t&since=garbage"]
    ) {
      const res = await fetch(`${relay.url}/subscribe?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(typeof (await res.json()).error, "string");
    }
    const none = await fetch(`${relay.url}/subscribe`);
    assert.equal(none.status, 422);
    assert.deepEqual((await none.json()).detail[0].loc, ["query", "topic"]);
  } finally {
    await relay.close();
  }
});

Deno.test("bearer tokens: 401 without a known token, 403 outside the scopes", async () => {
  const relay = await startRelay({
    tokens: {
      "pub-token-1": ["publish:sensor.*"],
      "sub-token-1": ["subscribe:sensor.*", "subscribe:status.watchdog"],
    },
  });
  const pub = { authorization: "Bearer pub-token-1" };
  const sub = { authorization: "Bearer sub-token-1" };
  try {
    assert.equal((await publish(relay.url, "sensor.cpu", {})).status, 401);
    assert.equal(
      (await publish(relay.url, "sensor.cpu", {}, { authorization: "Bearer nope-nope" })).status,
      401,
    );
    assert.equal((await publish(relay.url, "sensor.cpu", { v: 1 }, pub)).status, 200);
    const denied = await publish(relay.url, "status.watchdog", {}, pub);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error, "credential lacks scope publish:status.watchdog");
    assert.equal((await publish(relay.url, "sensor.cpu", {}, sub)).status, 403);

    assert.equal(await fetch(`${relay.url}/subscribe?topic=sensor.cpu`).then(drain), 401);
    assert.equal(await fetch(`${relay.url}/subscribe?topic=*`, { headers: sub }).then(drain), 403);
    assert.equal(
      await fetch(`${relay.url}/subscribe?topic=status.*`, { headers: sub }).then(drain),
      403,
    );
    assert.equal(await fetch(`${relay.url}/topics`).then(drain), 401);
    const s = await openSse(relay.url, "topic=sensor.*&topic=status.watchdog", sub);
    assert.equal(s.status, 200);
    await s.until((e) => e.some((x) => x.event === "message"));
    await s.close();
    const topics = await (await fetch(`${relay.url}/topics`, { headers: pub })).json();
    assert.deepEqual(topics.topics, [], "a publish-only token sees no topics");
  } finally {
    await relay.close();
  }
});

async function drain(res: Response): Promise<number> {
  await res.body?.cancel();
  return res.status;
}

Deno.test("CORS headers only for allow-listed origins", async () => {
  const open = await startRelay();
  const listed = await startRelay({ cors_origins: ["http://ok.example"] });
  try {
    const get = (url: string, origin: string) =>
      fetch(`${url}/topics`, { headers: { origin } }).then(async (r) => {
        await r.body?.cancel();
        return r.headers.get("access-control-allow-origin");
      });
    assert.equal(await get(open.url, "http://ok.example"), null);
    assert.equal(await get(listed.url, "http://ok.example"), "http://ok.example");
    assert.equal(await get(listed.url, "http://evil.example"), null);
  } finally {
    await open.close();
    await listed.close();
  }
});

Deno.test("a browser page of an allowed origin may send a keyed publish and read that it was replayed", async () => {
  // Idempotency-Key is no CORS-safelisted header: a preflight that does not list it makes the
  // browser refuse the publish, and a header not exposed cannot be read by the page.
  const relay = await startRelay({ cors_origins: ["http://ok.example"], compat: "iatp" });
  try {
    for (const path of ["/publish", "/%70ublish"]) {
      const pre = await fetch(`${relay.url}${path}`, {
        method: "OPTIONS",
        headers: {
          origin: "http://ok.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,idempotency-key",
        },
      });
      await pre.body?.cancel();
      assert.equal(pre.status, 204, path);
      const allowed = (pre.headers.get("access-control-allow-headers") ?? "").toLowerCase();
      assert.ok(allowed.split(",").includes("idempotency-key"), `${path}: ${allowed}`);
      const send = () =>
        fetch(`${relay.url}${path}`, {
          method: "POST",
          headers: {
            origin: "http://ok.example",
            "content-type": "application/json",
            "idempotency-key": `browser-${path}`,
          },
          body: JSON.stringify({ topic: "cors.keyed", payload: { n: 1 } }),
        });
      await drain(await send());
      const again = await send();
      await again.body?.cancel();
      assert.equal(again.headers.get("idempotent-replayed"), "true", path);
      const exposed = (again.headers.get("access-control-expose-headers") ?? "").toLowerCase();
      assert.ok(exposed.split(",").includes("idempotent-replayed"), `${path}: ${exposed}`);
    }
  } finally {
    await relay.close();
  }
});

/** Opens a subscription on a raw socket and never reads it (a stalled consumer). */
async function stalledSubscriber(url: string, topic: string): Promise<Deno.TcpConn> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const req = `GET /subscribe?topic=${topic} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`;
  await conn.write(new TextEncoder().encode(req));
  return conn;
}

async function readAll(conn: Deno.TcpConn): Promise<string> {
  const dec = new TextDecoder();
  const buf = new Uint8Array(256 * 1024);
  let tail = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const n = await conn.read(buf);
    if (n === null) return tail;
    tail = (tail + dec.decode(buf.subarray(0, n), { stream: true })).slice(-4096);
    if (tail.includes("event: overflow")) return tail;
  }
  return tail;
}

Deno.test("a stalled subscriber overflows while a healthy one keeps receiving", async () => {
  const relay = await startRelay({
    queue_bytes: 4 * 1024 * 1024,
    max_payload_bytes: 300_000,
    max_body_bytes: 400_000,
  });
  const stalled = await stalledSubscriber(relay.url, "big");
  const healthy = await openSse(relay.url, "topic=big");
  try {
    const blob = "z".repeat(200_000);
    let sent = 0;
    let overflowed = false;
    // Kernel socket buffers absorb a few MB before the relay's queue fills; bounded at 400 MB.
    while (!overflowed && sent < 2000) {
      await publish(relay.url, "big", { n: sent, blob });
      sent++;
      if (sent % 5 === 0) {
        const metrics = await (await fetch(`${relay.url}/metrics`)).text();
        overflowed = !/iatp_relay_overflows_total\{[^}]*\} 0\b/.test(metrics);
        // Let the healthy reader (same process) keep pace; the stalled one never reads.
        await healthy.until((e) => e.filter((x) => x.event === "message").length === sent);
      }
    }
    assert.ok(overflowed, `no overflow after ${sent} publishes`);
    await publish(relay.url, "big", { n: "last" });
    await healthy.until(
      (e) => e.some((x) => x.data.includes('"n":"last"')),
      30_000,
      "healthy subscriber to get every event",
    );
    const got = healthy.messages().map((m) => (m.json.payload as { n: unknown }).n);
    assert.equal(got.length, sent + 1);
    assert.ok(!healthy.events.some((e) => e.event === "overflow"));
    const tail = await readAll(stalled);
    assert.ok(tail.includes("event: overflow"), "stalled stream ends with event: overflow");
    const health = await (await fetch(`${relay.url}/health`)).json();
    assert.equal(health.subscribers, 1, "the overflowed subscriber was removed");
  } finally {
    stalled.close();
    await healthy.close();
    await relay.close();
  }
});

Deno.test("1,000 concurrent subscribers all receive a live event", async () => {
  const relay = await startRelay();
  const subs = [];
  try {
    for (let i = 0; i < 1000; i += 100) {
      subs.push(
        ...await Promise.all(Array.from({ length: 100 }, () => openSse(relay.url, "topic=fan.*"))),
      );
    }
    const health = await (await fetch(`${relay.url}/health`)).json();
    assert.equal(health.subscribers, 1000);
    await publish(relay.url, "fan.out", { hello: 1 });
    for (const s of subs) await s.until((e) => e.some((x) => x.event === "message"), 60_000);
    assert.ok(subs.every((s) => s.messages().length === 1));
  } finally {
    await Promise.all(subs.map((s) => s.close()));
    await relay.close();
  }
});

Deno.test("one credential cannot take every subscriber slot from the rest of the mesh", async () => {
  const relay = await startRelay({
    max_subscribers: 4,
    max_subscribers_per_principal: 2,
    tokens: { "narrow-token-1": ["subscribe:sensor.x"], "service-token-1": ["*"] },
  });
  const narrow = { authorization: "Bearer narrow-token-1" };
  const service = { authorization: "Bearer service-token-1" };
  const open: Array<{ close(): Promise<void> }> = [];
  try {
    for (let i = 0; i < 2; i++) {
      const s = await openSse(relay.url, "topic=sensor.x", narrow);
      open.push(s);
      assert.equal(s.status, 200);
    }
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${relay.url}/subscribe?topic=sensor.x`, { headers: narrow });
      assert.equal(res.status, 429);
      const body = await res.json();
      assert.equal(body.setting, "max_subscribers_per_principal");
      assert.equal(body.limit, 2);
      assert.equal(typeof body.request_id, "string");
    }
    const other = await openSse(relay.url, "topic=*", service);
    open.push(other);
    assert.equal(other.status, 200, "another credential still gets a slot");
    assert.equal((await publish(relay.url, "sensor.x", { v: 1 }, service)).status, 200);
    await other.until((e) => e.some((x) => x.event === "message"));
    await open.shift()!.close();
    let again;
    for (let i = 0; i < 500; i++) {
      again = await openSse(relay.url, "topic=sensor.x", narrow);
      if (again.status === 200) break;
      await again.close();
      await new Promise((r) => setTimeout(r, 10));
    }
    open.push(again!);
    assert.equal(again!.status, 200, "a closed subscription frees its credential's slot");
  } finally {
    for (const s of open) await s.close();
    await relay.close();
  }
});

Deno.test("the subscriber limit answers 503", async () => {
  const relay = await startRelay({ max_subscribers: 2 });
  const a = await openSse(relay.url, "topic=t");
  const b = await openSse(relay.url, "topic=t");
  try {
    const res = await fetch(`${relay.url}/subscribe?topic=t`);
    assert.equal(res.status, 503);
    assert.match((await res.json()).error, /subscriber limit/);
  } finally {
    await a.close();
    await b.close();
    await relay.close();
  }
});

Deno.test("a subscriber that sends bytes during its stream and leaves frees its place at once", async () => {
  // Without a heartbeat in the test's time, only the read side can notice these clients going.
  const relay = await startRelay({ max_subscribers: 3, heartbeat: 30_000 });
  const enc = new TextEncoder();
  const u = new URL(relay.url);
  const sub = `GET /subscribe?topic=t HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`;
  const subscribers = async () =>
    (await (await fetch(`${relay.url}/health`)).json()).subscribers as number;
  try {
    const leave = [
      // a request pipelined behind the subscription, then the client's end of the socket
      async (c: Deno.TcpConn) => {
        await c.write(enc.encode(sub + sub));
        await c.closeWrite();
      },
      // bytes that are no request while the stream runs, more than a read buffer holds
      async (c: Deno.TcpConn) => {
        await c.write(enc.encode(sub));
        await c.write(new Uint8Array(100_000).fill(0x41)).catch(() => {});
      },
    ];
    for (const [i, act] of leave.entries()) {
      for (let round = 0; round < 3; round++) {
        const c = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
        await act(c);
        await new Promise((r) => setTimeout(r, 100));
        c.close();
      }
      const deadline = Date.now() + 10_000;
      while (await subscribers() !== 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(await subscribers(), 0, `case ${i}: every place freed`);
    }
    // The places are really free: three new subscriptions fit under the limit of 3.
    const open = await Promise.all([1, 2, 3].map(() => openSse(relay.url, "topic=t")));
    for (const s of open) await s.close();
  } finally {
    await relay.close();
  }
});
