/**
 * `POST /publish` and `GET /subscribe` are served on the raw path, and through Hono when their
 * path is percent-escaped (`/%70ublish`): both give the same statuses, bodies and header fields
 * for the same requests on an open relay, one with credentials and one with CORS, every bound
 * included, and subscribers get the event either way.
 * @module
 */
import assert from "node:assert/strict";
import type { Service } from "../../../core/http/mod.ts";
import type { RelayConfig } from "../../../cmd/relay.ts";
import type { DeepPartial } from "../../../core/config/mod.ts";
import { openSse, startRelay } from "./relay_helpers.ts";

const TOKEN = "publish-paths-test-token";

/** The three relays: open, with a token, with CORS. */
const SETUPS: Array<[string, DeepPartial<RelayConfig>, Record<string, string>]> = [
  ["open", {}, {}],
  ["token", { tokens: { [TOKEN]: ["publish:*", "subscribe:*"] } }, {
    authorization: `Bearer ${TOKEN}`,
  }],
  ["cors", { cors_origins: ["http://example.test"] }, {}],
];

/** What must not differ between the paths: status, the JSON body without ids, some headers. */
async function answer(
  relay: Service,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string>,
  path = "/publish",
) {
  const res = await fetch(`${relay.url}${path}`, { method: "POST", body, headers });
  const text = await res.text();
  let json: Record<string, unknown> | string = text;
  try {
    const parsed: Record<string, unknown> = JSON.parse(text);
    for (const k of ["request_id", "event_id", "seq", "id"]) delete parsed[k];
    json = parsed;
  } catch { /* compared as text */ }
  return {
    status: res.status,
    json,
    type: res.headers.get("content-type"),
    requestId: res.headers.get("x-request-id") !== null,
    fields: fieldsOf(res),
  };
}

/** The header fields a middleware adds (CORS, the auth challenge, Retry-After), sorted. */
function fieldsOf(res: Response): string[] {
  return [...res.headers].filter(([k]) => /^(access-control-|vary|www-auth|retry-after)/.test(k))
    .map(([k, v]) => `${k}: ${v}`).sort();
}

const CASES: Array<string | Uint8Array<ArrayBuffer>> = [
  '{"topic":"t.a","payload":{"x":1}}',
  "\ufeff" + '{"topic":"t.a","payload":{"bom":true}}',
  "not json",
  "",
  "[1,2]",
  '{"payload":{}}',
  '{"topic":5,"payload":{}}',
  '{"topic":"has space","payload":{}}',
  '{"topic":"t","payload":[1]}',
  '{"topic":"t"}',
  `{"topic":"t","payload":{"big":"${"y".repeat(100)}"}}`,
  `{"topic":"t","payload":{"pad":"${"z".repeat(300)}"}}`, // over max_body_bytes: 413
  new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), // not UTF-8
  '{"topic":"new.topic","payload":{}}', // over max_topics: 507
];

for (const compat of ["upstream", "iatp"] as const) {
  Deno.test(`publish answers alike on the raw path and through Hono (compat ${compat})`, async () => {
    const results: Record<string, unknown[]> = {};
    for (const [name, config, setupHeaders] of SETUPS) {
      const headers = name === "cors"
        ? { ...setupHeaders, origin: "http://example.test" }
        : setupHeaders;
      const relay = await startRelay({
        ...config,
        compat,
        max_payload_bytes: 64,
        max_body_bytes: 256,
        max_topics: 1,
      });
      try {
        const out = [];
        const routed = [];
        for (const c of CASES) {
          out.push(await answer(relay, c, headers));
          routed.push(await answer(relay, c, headers, "/%70ublish"));
        }
        // The routed publishes went to a topic the raw ones created: the same answers (507 too).
        assert.deepEqual(routed, out, `${name}: the raw path and the router`);
        results[name] = out.map((r) => ({ ...r, fields: [] }));
      } finally {
        await relay.close();
      }
    }
    assert.deepEqual(results.token, results.open);
    assert.deepEqual(results.cors, results.open);
    const statuses = (results.open as Array<{ status: number }>).map((r) => r.status);
    const ok = compat === "upstream" ? 200 : 201;
    const bad = compat === "upstream" ? 422 : 400;
    assert.deepEqual(statuses, [
      ok,
      ok,
      bad,
      bad,
      bad,
      bad,
      bad,
      bad,
      bad,
      bad,
      400,
      413,
      bad,
      507,
    ]);
    for (const r of results.open as Array<{ type: string; requestId: boolean }>) {
      assert.match(r.type, /^application\/json/);
      assert.equal(r.requestId, true);
    }
  });
}

Deno.test("an event published on the raw path reaches subscribers; a token still guards Hono's", async () => {
  for (const [name, config, headers] of SETUPS) {
    const relay = await startRelay(config);
    const sub = await openSse(relay.url, "topic=p.x&since=now", headers);
    try {
      const res = await fetch(`${relay.url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ topic: "p.x", payload: { via: name } }),
      });
      assert.equal(res.status, 200, name);
      await res.body?.cancel();
      await sub.until((e) => e.some((x) => x.event === "message"), 5_000, `${name} event`);
      assert.deepEqual(sub.messages().map((m) => (m.json.payload as { via: string }).via), [name]);
      if (name === "token") {
        const anon = await fetch(`${relay.url}/publish`, {
          method: "POST",
          body: JSON.stringify({ topic: "p.x", payload: {} }),
        });
        assert.equal(anon.status, 401);
        assert.match(anon.headers.get("www-authenticate") ?? "", /^Bearer/);
        await anon.body?.cancel();
      }
    } finally {
      await sub.close();
      await relay.close();
    }
  }
});

/** Subscriptions as query and extra header fields: refusals, then one that opens. */
const SUBSCRIPTIONS: Array<[string, Record<string, string>]> = [
  ["", {}],
  ["topic=has%20space", {}],
  [Array.from({ length: 65 }, (_, i) => `topic=t${i}`).join("&"), {}],
  ["topic=p.x&since=garbage", {}],
  ["topic=p.x", { "last-event-id": "nope" }],
  ["topic=p.x&access_token=abc", {}],
  ["to%70ic=p.%2A&since=now", {}],
  ["topic=p.x&since=now", {}],
];

/** A subscription's answer: status, type, middleware fields, and the body of a refusal. */
async function subscribeAnswer(relay: Service, path: string, headers: Record<string, string>) {
  const res = await fetch(`${relay.url}${path}`, { headers });
  const type = res.headers.get("content-type");
  const body = type?.startsWith("application/json") ? await res.json() : "stream";
  if (body === "stream") await res.body?.cancel();
  else delete body.request_id;
  return { status: res.status, type, fields: fieldsOf(res), body };
}

Deno.test("subscribe answers alike on the raw path and through Hono, refusals included", async () => {
  for (const [name, config, setupHeaders] of SETUPS) {
    const relay = await startRelay(config);
    try {
      const statuses = [];
      for (const [query, extra] of SUBSCRIPTIONS) {
        const headers = { origin: "http://example.test", ...setupHeaders, ...extra };
        const raw = await subscribeAnswer(relay, `/subscribe?${query}`, headers);
        const routed = await subscribeAnswer(relay, `/%73ubscribe?${query}`, headers);
        assert.deepEqual(raw, routed, `${name}: ?${query.slice(0, 40)}`);
        statuses.push(raw.status);
      }
      // A credential in the query is refused only where credentials are checked at all.
      const inQuery = name === "token" ? 401 : 200;
      assert.deepEqual(statuses, [422, 400, 400, 400, 400, inQuery, 200, 200], name);
      if (name === "token") {
        const anon = await subscribeAnswer(relay, "/subscribe?topic=p.x", {});
        assert.equal(anon.status, 401);
        assert.deepEqual(anon, await subscribeAnswer(relay, "/%73ubscribe?topic=p.x", {}));
      }
    } finally {
      await relay.close();
    }
  }
});

/** The status line and body start of the answer to `request` sent as is on a new connection. */
async function statusOf(relay: Service, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(relay.url).port) });
  try {
    await conn.write(new TextEncoder().encode(request));
    const buf = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text.split("\r\n")[0];
  } finally {
    conn.close();
  }
}

Deno.test("an absolute-form target whose path is / is not served as /publish or /subscribe", async () => {
  const relay = await startRelay({ tokens: { [TOKEN]: ["publish:*", "subscribe:*"] } });
  try {
    const auth = `authorization: Bearer ${TOKEN}\r\n`;
    const body = '{"topic":"p.x","payload":{}}';
    const post = (target: string) =>
      `POST ${target} HTTP/1.1\r\nhost: localhost\r\ncontent-length: ${body.length}\r\n${auth}\r\n${body}`;
    const get = (target: string) => `GET ${target} HTTP/1.1\r\nhost: localhost\r\n${auth}\r\n`;
    // Their path is "/" (the rest is a query or a fragment): the router's 404, as for `/`.
    for (const request of [post("http://h?/publish"), post("http://h#/publish")]) {
      assert.equal(await statusOf(relay, request), "HTTP/1.1 404 Not Found", request);
    }
    for (
      const request of [get("http://h?/subscribe?topic=p.x"), get("http://h#/subscribe?topic=p.x")]
    ) {
      assert.equal(await statusOf(relay, request), "HTTP/1.1 404 Not Found", request);
    }
    assert.equal(await statusOf(relay, post("http://h/publish")), "HTTP/1.1 200 OK");
  } finally {
    await relay.close();
  }
});
