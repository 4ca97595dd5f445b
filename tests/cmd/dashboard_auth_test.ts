/**
 * Dashboard login, scopes and masking over real sockets: the auth matrix (no session, bad,
 * expired, unknown-issuer, scope-less credentials, a viewer), the session cookie's attributes,
 * logout, rate limiting, cross-origin refusal, per-viewer filtering of every answer, secret
 * masking everywhere, and protected mode.
 */
import assert from "node:assert/strict";
import { decodeClaims } from "../../core/auth/mod.ts";
import { command as dashboard } from "../../cmd/dashboard.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import { createLogger } from "../../core/log/mod.ts";
import { openStream, publish, startRelay } from "../core/relay/relay_helpers.ts";
import { tempDir, waitFor } from "../helpers.ts";
import { json as rawJson, RawConn } from "../support/raw_http.ts";
import {
  appendAudit,
  issuerFor,
  login,
  startAudit,
  startDashboard,
  state,
} from "./dashboard_helpers.ts";

const HTML = { accept: "text/html" };

Deno.test("auth matrix: no session, bad, expired, unknown-issuer and scope-less credentials", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const other = await issuerFor();
  const dash = await startDashboard(relay.url, { auth_keys: [publicKey] });
  try {
    const page = await fetch(`${dash.url}/activity?topic=x`, { headers: HTML, redirect: "manual" });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get("location"), "/login?next=%2Factivity%3Ftopic%3Dx");
    await page.body?.cancel();
    for (const path of ["/api/state", "/api/overview", "/api/events", "/events", "/tx/t1"]) {
      const res = await fetch(dash.url + path);
      assert.equal(res.status, 401, path);
      const body = await res.json();
      assert.equal(typeof body.error, "string");
      assert.equal(typeof body.request_id, "string");
    }
    for (const path of ["/health", "/ready", "/metrics", "/login", "/static/client/app.css"]) {
      const res = await fetch(dash.url + path);
      assert.equal(res.status, 200, path);
      await res.body?.cancel();
    }
    const refusals = [
      "not-a-credential",
      await mint("viewer", ["dashboard:view"], 1_000, Date.now() - 10_000),
      await other.mint("viewer", ["dashboard:view", "subscribe:*"]),
      "",
    ];
    const bodies = new Set<string>();
    for (const credential of refusals) {
      const r = await login(dash.url, credential);
      assert.equal(r.res.status, 401, credential.slice(0, 20));
      assert.equal(r.setCookie, "");
      bodies.add(r.body.error);
    }
    assert.equal(bodies.size, 1, "one generic refusal, whichever the credential");
    const noView = await login(dash.url, await mint("relay-user", ["subscribe:*"]));
    assert.equal(noView.res.status, 403);
    assert.match(noView.body.error, /dashboard:view/);
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("a viewer's session: cookie attributes, expiry cap, bearer use, logout", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, { auth_keys: [publicKey] });
  try {
    const viewer = await login(dash.url, await mint("ops", ["dashboard:view", "subscribe:*"]));
    assert.equal(viewer.res.status, 200);
    assert.equal(viewer.body.sub, "ops");
    assert.match(
      viewer.setCookie,
      /^iatp_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/,
    );
    assert.equal((await state(dash.url, { cookie: viewer.cookie })).viewer, "ops");
    const tls = await login(dash.url, await mint("ops", ["dashboard:view"]), {
      "x-forwarded-proto": "https",
    });
    assert.match(tls.setCookie, /; Secure$/);
    const short = await login(dash.url, await mint("ops", ["dashboard:view"], 60_000));
    assert.ok(Number(/Max-Age=(\d+)/.exec(short.setCookie)?.[1]) <= 60, short.setCookie);
    // A bearer credential works for JSON without a session; the scope is still required.
    const bearer = { authorization: `Bearer ${await mint("bot", ["dashboard:view"])}` };
    assert.equal((await state(dash.url, bearer)).viewer, "bot");
    const scopeless = await fetch(`${dash.url}/api/state`, {
      headers: { authorization: `Bearer ${await mint("bot", ["subscribe:*"])}` },
    });
    assert.equal(scopeless.status, 403);
    assert.match((await scopeless.json()).error, /dashboard:view/);
    const inQuery = await fetch(`${dash.url}/api/state?token=x`, { headers: bearer });
    assert.equal(inQuery.status, 401, "a credential in the query string is refused");
    await inQuery.body?.cancel();
    // Logout ends the session server-side.
    const out = await fetch(`${dash.url}/logout`, {
      method: "POST",
      headers: { cookie: viewer.cookie },
    });
    assert.equal(out.status, 200);
    assert.match(out.headers.get("set-cookie") ?? "", /Max-Age=0/);
    await out.body?.cancel();
    const after = await fetch(`${dash.url}/api/state`, { headers: { cookie: viewer.cookie } });
    assert.equal(after.status, 401);
    await after.body?.cancel();
  } finally {
    await dash.close();
    await relay.close();
  }
});

/** Waits (at most 15 s) for the server to end an SSE stream. */
async function endOf(s: { ended: Promise<void> }): Promise<void> {
  let ended = false;
  void s.ended.then(() => ended = true);
  await waitFor(() => ended, 15_000, "the stream to end");
}

Deno.test("a session and its open stream end when the credential is revoked, expires or logs out", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const dir = await tempDir();
  const revokedFile = `${dir.path}/revoked`;
  await Deno.writeTextFile(revokedFile, "# revoked credential ids\n");
  const dash = await startDashboard(relay.url, {
    auth_keys: [publicKey],
    auth_revoked: [`file:${revokedFile}`],
  });
  const streams: Awaited<ReturnType<typeof openStream>>[] = [];
  try {
    const credential = await mint("ops", ["dashboard:view", "subscribe:*"]);
    const viewer = await login(dash.url, credential);
    assert.equal(viewer.res.status, 200);
    const session = { cookie: viewer.cookie };
    const bearer = { authorization: `Bearer ${credential}` };
    const bySession = await openStream(`${dash.url}/events`, session);
    const byBearer = await openStream(`${dash.url}/events`, bearer);
    streams.push(bySession, byBearer);
    assert.equal(bySession.status, 200);
    assert.equal(byBearer.status, 200);
    await publish(relay.url, "sensor.cpu", { n: 1 });
    for (const s of [bySession, byBearer]) {
      await s.until((ev) => ev.some((e) => e.event === "message"), 15_000, "the first event");
    }
    assert.equal((await state(dash.url, session)).viewer, "ops");
    // Revoking the credential's jti (a line in the file, no restart) ends the session and every
    // open stream made from it: no further event reaches them.
    await Deno.writeTextFile(revokedFile, `${decodeClaims(credential).jti}\n`, { append: true });
    await waitFor(async () => {
      const res = await fetch(`${dash.url}/api/state`, { headers: session });
      await res.body?.cancel();
      return res.status === 401;
    }, 15_000);
    await Promise.all([endOf(bySession), endOf(byBearer)]);
    const again = await fetch(`${dash.url}/api/state`, { headers: session });
    assert.equal(again.status, 401, "a revoked credential's session stays ended");
    await again.body?.cancel();

    // Logging out ends the session's open stream too.
    const other = await login(dash.url, await mint("ops2", ["dashboard:view", "subscribe:*"]));
    const otherStream = await openStream(`${dash.url}/events`, { cookie: other.cookie });
    streams.push(otherStream);
    assert.equal(otherStream.status, 200);
    const out = await fetch(`${dash.url}/logout`, {
      method: "POST",
      headers: { cookie: other.cookie },
    });
    assert.equal(out.status, 200);
    await out.body?.cancel();
    await endOf(otherStream);

    // A stream opened with a credential about to expire ends when it does.
    const short = await mint("brief", ["dashboard:view", "subscribe:*"], 1_500);
    const shortStream = await openStream(`${dash.url}/events`, {
      authorization: `Bearer ${short}`,
    });
    streams.push(shortStream);
    assert.equal(shortStream.status, 200);
    await endOf(shortStream);
  } finally {
    for (const s of streams) await s.close();
    await dash.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("one viewer's streams are bounded: the others' live view stays open", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, {
    auth_keys: [publicKey],
    max_clients: 3,
    max_viewer_streams: 2,
  });
  const streams: Awaited<ReturnType<typeof openStream>>[] = [];
  const open = async (headers: Record<string, string>) => {
    const s = await openStream(`${dash.url}/events`, headers);
    streams.push(s);
    return s;
  };
  try {
    const greedy = { authorization: `Bearer ${await mint("greedy", ["dashboard:view"])}` };
    const session = {
      cookie: (await login(dash.url, await mint("greedy", ["dashboard:view"]))).cookie,
    };
    const first = await open(greedy);
    assert.equal(first.status, 200);
    assert.equal((await open(session)).status, 200, "a session counts as the same viewer");
    const third = await open(greedy);
    assert.equal(third.status, 429);
    const body = JSON.parse(third.events[0].data);
    assert.equal(body.setting, "max_viewer_streams");
    assert.match(body.error, /stream limit of 2 per viewer/);
    const other = await open({
      authorization: `Bearer ${await mint("other", ["dashboard:view"])}`,
    });
    assert.equal(other.status, 200, "another viewer still gets a stream");
    // The page's probe (EventSource tells no status) gets the refusal a stream would.
    const head = async (headers: Record<string, string>) => {
      const res = await fetch(`${dash.url}/events`, { method: "HEAD", headers });
      await res.body?.cancel();
      return res.status;
    };
    assert.equal(await head(greedy), 429, "HEAD: this viewer's limit");
    const third3 = { authorization: `Bearer ${await mint("third", ["dashboard:view"])}` };
    assert.equal(await head(third3), 503, "HEAD: the dashboard's browser limit");
    const full = await open(third3);
    assert.equal(full.status, 503);
    assert.equal(JSON.parse(full.events[0].data).setting, "max_clients");
    // A stream that ends gives its slot back.
    await first.close();
    await waitFor(
      async () => {
        const again = await open(greedy);
        return again.status === 200;
      },
      15_000,
      "a slot back",
    );
  } finally {
    for (const s of streams) await s.close();
    await dash.close();
    await relay.close();
  }
});

Deno.test("one viewer logging in again and again ends its own sessions, never the others'", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, {
    auth_keys: [publicKey],
    max_sessions: 4,
    max_viewer_sessions: 2,
  });
  const status = async (cookie: string) => {
    const res = await fetch(`${dash.url}/api/state`, { headers: { cookie } });
    await res.body?.cancel();
    return res.status;
  };
  try {
    const victim = await login(dash.url, await mint("victim", ["dashboard:view"]));
    assert.equal(victim.res.status, 200);
    const greedy = await mint("greedy", ["dashboard:view"]);
    const cookies: string[] = [];
    for (let i = 0; i < 6; i++) cookies.push((await login(dash.url, greedy)).cookie);
    assert.equal(await status(victim.cookie), 200, "another viewer's session stays");
    assert.deepEqual(
      await Promise.all(cookies.map(status)),
      [401, 401, 401, 401, 200, 200],
      "the greedy viewer keeps its newest max_viewer_sessions",
    );
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("login: form post, cross-origin refusal and rate limiting", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, { auth_keys: [publicKey], login_rate: 3 });
  try {
    const good = await mint("ops", ["dashboard:view", "subscribe:*"]);
    const form = await fetch(`${dash.url}/login?next=%2Factivity`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
      body: new URLSearchParams({ credential: good }),
      redirect: "manual",
    });
    assert.equal(form.status, 303);
    assert.equal(form.headers.get("location"), "/activity");
    assert.match(form.headers.get("set-cookie") ?? "", /^iatp_session=/);
    await form.body?.cancel();
    const bad = await fetch(`${dash.url}/login?next=//evil.example`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ credential: "wrong" }),
    });
    assert.equal(bad.status, 401);
    const html = await bad.text();
    assert.match(html, /the credential was not accepted/);
    assert.match(html, /action="\/login\?next=%2F"/, "an off-site next becomes /");
    const cross = await login(dash.url, good, { origin: "http://evil.example" });
    assert.equal(cross.res.status, 403);
    const crossSite = await login(dash.url, good, { "sec-fetch-site": "cross-site" });
    assert.equal(crossSite.res.status, 403);
    assert.equal((await login(dash.url, good)).res.status, 200, "the third attempt this minute");
    const limited = await login(dash.url, good);
    assert.equal(limited.res.status, 429, "the fourth is over login_rate 3");
    assert.ok(Number(limited.res.headers.get("retry-after")) >= 1);
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("login: a body that is not the form its Content-Type names is a 400 with a JSON error", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, { auth_keys: [publicKey], login_rate: 100 });
  try {
    const good = await mint("ops", ["dashboard:view", "subscribe:*"]);
    const bodies: [string, string][] = [
      ["multipart/form-data; boundary=x", `credential=${good}`],
      ["multipart/form-data", `credential=${good}`],
    ];
    for (const [type, body] of bodies) {
      const res = await fetch(`${dash.url}/login`, {
        method: "POST",
        headers: { "content-type": type },
        body,
      });
      assert.equal(res.status, 400, `${type}: ${body.slice(0, 40)}`);
      const answer = await res.json();
      assert.match(answer.error, /as JSON or a form/);
      assert.equal(typeof answer.request_id, "string");
    }
    const multipart = new FormData();
    multipart.set("credential", good);
    const res = await fetch(`${dash.url}/login`, {
      method: "POST",
      body: multipart,
      redirect: "manual",
    });
    assert.equal(res.status, 303, "a well-formed multipart form still logs in");
    await res.body?.cancel();
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("login: a body the edge cannot read keeps the edge's 413 or 400, JSON or form alike", async () => {
  const relay = await startRelay();
  const { publicKey } = await issuerFor();
  const dash = await startDashboard(relay.url, { auth_keys: [publicKey], login_rate: 100 });
  const port = Number(new URL(dash.url).port);
  const big = "a".repeat(0x80000);
  try {
    for (const type of ["application/json", "application/x-www-form-urlencoded"]) {
      const head = `POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${type}\r\n` +
        "Transfer-Encoding: chunked\r\n\r\n";
      const cases: Array<[string, number, RegExp]> = [
        // Three chunks of 512 KiB: past max_body_bytes (1 MiB) with no length declared.
        [`80000\r\n${big}\r\n`.repeat(3) + "0\r\n\r\n", 413, /exceeds 1048576 bytes/],
        ["2\r\n{}zz\r\n", 400, /missing CRLF after chunk data/],
        ["fffffffffffffffffff\r\n", 400, /chunk size too large/],
      ];
      for (const [body, status, error] of cases) {
        const c = await RawConn.open(port);
        await c.write(head + body).catch(() => {}); // the server may close before all of it
        const r = await c.read();
        assert.equal(r?.status, status, `${type}: ${r?.body}`);
        assert.match(String(rawJson(r!).error), error);
        c.close();
      }
    }
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("a viewer sees only its subscribe scopes, on every route", async () => {
  const dir = await tempDir();
  const relay = await startRelay();
  const { svc: ledger } = await startAudit(dir.path);
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, { auth_keys: [publicKey], audit_url: ledger.url });
  try {
    await publish(relay.url, "access.intent", { tx_id: "tx-a", subject: { id: "agent-7" } });
    await publish(relay.url, "access.decision", { tx_id: "tx-a", decision: "deny" });
    await publish(relay.url, "sensor.cpu", { agent_id: "s1", tx_id: "tx-s", value: 93 });
    await appendAudit(ledger.url, { tx_id: "tx-a", event: "access.decision", actor: "policy" });
    const all = { authorization: `Bearer ${await mint("ops", ["dashboard:view", "subscribe:*"])}` };
    await waitFor(async () => (await state(dash.url, all)).events === 3, 15_000, "feed");
    const sensorOnly = await login(
      dash.url,
      await mint("sensors", ["dashboard:view", "subscribe:sensor.*"]),
    );
    const h = { cookie: sensorOnly.cookie };
    const s = await state(dash.url, h);
    assert.equal(s.events, 1);
    assert.deepEqual(Object.keys(s.counts), ["sensor.cpu"]);
    const events = await (await fetch(`${dash.url}/api/events`, { headers: h })).json();
    assert.deepEqual(events.events.map((e: { topic: string }) => e.topic), ["sensor.cpu"]);
    const tx = await (await fetch(`${dash.url}/tx/tx-a?format=json`, { headers: h })).json();
    assert.deepEqual([tx.intents, tx.decisions, tx.others], [[], [], []]);
    assert.equal(tx.audit.entries.length, 0);
    assert.equal(tx.audit.hidden, 1, "the ledger entry of a hidden topic is counted, not shown");
    const overview = await (await fetch(`${dash.url}/api/overview`, { headers: h })).json();
    assert.deepEqual(overview.latest, [], "no deny from a topic it may not see");
    assert.equal(overview.totals.deny, 0);
    assert.deepEqual(overview.sensors, [{ type: "cpu", count: 1 }]);
    for (const path of ["/", "/activity", "/tx/tx-a"]) {
      const html = await (await fetch(dash.url + path, { headers: h })).text();
      assert.ok(!html.includes("agent-7"), `${path} shows nothing of access.*`);
    }
    const stream = await openStream(`${dash.url}/events`, h);
    await publish(relay.url, "access.intent", { tx_id: "tx-b", subject: { id: "agent-8" } });
    await publish(relay.url, "sensor.disk", { agent_id: "s1", value: 1 });
    await stream.until((e) => e.some((x) => x.data.includes("sensor.disk")), 15_000, "live");
    assert.deepEqual(
      stream.messages().map((m) => m.json.topic),
      ["sensor.cpu", "sensor.disk"],
      "the stream carries only the viewer's topics",
    );
    await stream.close();
    const full = await (await fetch(`${dash.url}/tx/tx-a?format=json`, { headers: all })).json();
    assert.equal(full.audit.entries.length, 1);
    assert.equal(full.decisions.length, 1);
  } finally {
    await dash.close();
    await ledger.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("the events page and its positions reveal nothing of the events a viewer may not see", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, { auth_keys: [publicKey] });
  try {
    await publish(relay.url, "sensor.cpu", { agent_id: "s1", value: 1 });
    await publish(relay.url, "access.intent", { tx_id: "tx-h1" });
    await publish(relay.url, "sensor.cpu", { agent_id: "s1", value: 2 });
    await new Promise((r) => setTimeout(r, 5)); // the hidden event arrives a moment later
    await publish(relay.url, "access.decision", { tx_id: "tx-h1", decision: "deny" });
    const all = { authorization: `Bearer ${await mint("ops", ["dashboard:view", "subscribe:*"])}` };
    await waitFor(async () => (await state(dash.url, all)).events === 4, 15_000, "feed");
    const every = (await (await fetch(`${dash.url}/api/events`, { headers: all })).json()).events;
    const [decision, sensor, intent, first] = every.map((e: { id: string }) => e.id);
    const lastIdOf = async (headers: Record<string, string>) => {
      const html = await (await fetch(`${dash.url}/activity`, { headers })).text();
      return /data-last-id="([^"]*)"/.exec(html)?.[1];
    };
    assert.equal(await lastIdOf(all), decision, "the newest event, seen by a viewer of all");
    const h = {
      authorization: `Bearer ${await mint("sensors", ["dashboard:view", "subscribe:sensor.*"])}`,
    };
    assert.equal(await lastIdOf(h), sensor, "the newest event this viewer may see");
    const nothing = {
      authorization: `Bearer ${await mint("nobody", ["dashboard:view", "subscribe:none.*"])}`,
    };
    assert.equal(await lastIdOf(nothing), "", "no position at all for a viewer who sees none");
    // Nor when the newest hidden event arrived: the relay's last_event is the viewer's own.
    const tsOf = (id: string) => every.find((e: { id: string }) => e.id === id).ts;
    assert.notEqual(tsOf(decision), tsOf(sensor), "a hidden event arrived later");
    assert.equal((await state(dash.url, all)).relay.last_event, tsOf(decision));
    for (const [headers, want] of [[h, tsOf(sensor)], [nothing, undefined]] as const) {
      assert.equal((await state(dash.url, headers)).relay.last_event, want);
      const o = await (await fetch(`${dash.url}/api/overview`, { headers })).json();
      assert.equal(o.relay.last_event, want);
      const s = await openStream(`${dash.url}/events`, headers);
      await s.until((e) => e.some((x) => x.event === "status"), 15_000, "status");
      const status = JSON.parse(s.events.find((x) => x.event === "status")!.data);
      assert.equal(status.relay.last_event, want);
      await s.close();
    }
    // A hidden event's position answers as an unknown one: paging and resuming from it tell
    // nothing about whether it is held.
    const page = async (before: string) =>
      (await (await fetch(`${dash.url}/api/events?before=${before}`, { headers: h })).json())
        .events.map((e: { id: string }) => e.id);
    assert.deepEqual(await page(intent), [sensor, first]);
    assert.deepEqual(await page("0-999999"), [sensor, first]);
    assert.deepEqual(await page(sensor), [first], "a visible position pages back");
    for (const since of [intent, "0-999999"]) {
      const s = await openStream(`${dash.url}/events?since=${since}`, h);
      await s.until((e) => e.filter((x) => x.event === "message").length === 2, 15_000, "backlog");
      assert.deepEqual(s.events.map((x) => x.event), ["reset", "status", "message", "message"]);
      assert.deepEqual(s.messages().map((m) => m.id), [first, sensor], since);
      await s.close();
    }
    const resumed = await openStream(`${dash.url}/events?since=${sensor}`, h);
    await resumed.until((e) => e.some((x) => x.event === "status"), 15_000, "status");
    await publish(relay.url, "access.intent", { tx_id: "tx-h2" });
    await publish(relay.url, "sensor.disk", { agent_id: "s1", value: 2 });
    await resumed.until((e) => e.some((x) => x.data.includes("sensor.disk")), 15_000, "live");
    assert.deepEqual(
      resumed.messages().map((m) => m.json.topic),
      ["sensor.disk"],
      "resumed after its own last event: nothing lost, nothing twice",
    );
    await resumed.close();
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("a viewer whose credential grants no subscribe scope is told so, not 'no events yet'", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, { auth_keys: [publicKey] });
  try {
    await publish(relay.url, "sensor.cpu", { agent_id: "s1", value: 1 });
    const all = { authorization: `Bearer ${await mint("ops", ["dashboard:view", "subscribe:*"])}` };
    await waitFor(async () => (await state(dash.url, all)).events === 1, 15_000, "feed");
    const bare = { authorization: `Bearer ${await mint("bare", ["dashboard:view"])}` };
    const scoped = {
      authorization: `Bearer ${await mint("scoped", ["dashboard:view", "subscribe:none.*"])}`,
    };
    for (const path of ["/", "/activity"]) {
      const html = await (await fetch(dash.url + path, { headers: bare })).text();
      assert.match(html, /id="no-topic"/, path);
      assert.match(html, /grants no <code>subscribe:<\/code>/, path);
      assert.doesNotMatch(html, /No events yet|Nothing to show yet/, path);
      const other = await (await fetch(dash.url + path, { headers: scoped })).text();
      assert.doesNotMatch(other, /id="no-topic"/, `${path}: a viewer with a scope`);
    }
  } finally {
    await dash.close();
    await relay.close();
  }
});

const SECRETS = {
  password: "pw-value-1",
  passwd: "pw-value-2",
  token: "tok-value-3",
  secret: "sec-value-4",
  api_key: "key-value-5",
  apiKey: "key-value-6",
  authorization: "Basic dXNlcjpwYXNz",
  cookie: "sid=cookie-value-7",
  private_key: "pk-value-8",
  credentials: { password: "cred-value-9", user: "u" },
};
const VALUES = ["pw-value-1", "pw-value-2", "tok-value-3", "sec-value-4", "key-value-5"]
  .concat(["key-value-6", "dXNlcjpwYXNz", "cookie-value-7", "pk-value-8", "cred-value-9"]);

Deno.test("values under secret-looking keys are masked in every page, JSON answer and stream", async () => {
  const dir = await tempDir();
  const relay = await startRelay();
  const { svc: ledger, vkey } = await startAudit(dir.path);
  const dash = await startDashboard(relay.url, { audit_url: ledger.url, audit_public_key: vkey });
  try {
    await publish(relay.url, "access.intent", { tx_id: "tx-m", context: { ...SECRETS } });
    await publish(relay.url, "sensor.login", { agent_id: "s", message: "ok", ...SECRETS });
    await appendAudit(ledger.url, {
      tx_id: "tx-m",
      event: "access.decision",
      actor: "policy",
      payload: { ...SECRETS },
    });
    await waitFor(async () => (await state(dash.url)).events === 2, 15_000, "feed");
    const stream = await openStream(`${dash.url}/events`);
    await stream.until((e) => e.filter((x) => x.event === "message").length === 2);
    await stream.close();
    const texts = [stream.events.map((e) => e.data).join("\n")];
    for (const path of ["/", "/activity", "/tx/tx-m", "/tx/tx-m?format=json", "/api/events"]) {
      texts.push(await (await fetch(dash.url + path)).text());
    }
    texts.push(await (await fetch(`${dash.url}/api/overview`)).text());
    for (const [n, text] of texts.entries()) {
      for (const v of VALUES) assert.ok(!text.includes(v), `secret ${v} in answer ${n}`);
    }
    const tx = await (await fetch(`${dash.url}/tx/tx-m?format=json`)).json();
    assert.equal(tx.audit.entries[0].verified, true, "verified before masking");
    assert.equal(tx.audit.entries[0].payload.password, "[REDACTED]");
    assert.equal(tx.intents[0].payload.context.credentials, "[REDACTED]");
  } finally {
    await dash.close();
    await ledger.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("protected mode: beyond loopback without keys refuses to start unless insecure", async () => {
  const relay = await startRelay();
  try {
    await assert.rejects(
      () => startDashboard(relay.url, { host: "0.0.0.0" }),
      (err: unknown) => err instanceof ConfigError && /auth_keys/.test(err.message),
    );
    const open = await startDashboard(relay.url, { host: "0.0.0.0", insecure: true });
    const health = await (await fetch(`${open.url}/health`)).json();
    assert.equal(health.login, false);
    await open.close();
    const { publicKey } = await issuerFor();
    const locked = await startDashboard(relay.url, { host: "0.0.0.0", auth_keys: [publicKey] });
    const res = await fetch(`${locked.url}/api/state`);
    assert.equal(res.status, 401);
    await res.body?.cancel();
    await locked.close();
  } finally {
    await relay.close();
  }
});

Deno.test("a publisher on a sensor topic cannot add decisions to the overview or push real ones off", async () => {
  const relay = await startRelay({
    tokens: {
      "sensor-token-1": ["publish:sensor.x"],
      "policy-token-1": ["publish:access.*"],
      "reader-token-1": ["subscribe:*"],
    },
  });
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, {
    auth_keys: [publicKey],
    relay_token: "reader-token-1",
  });
  try {
    const sensor = { authorization: "Bearer sensor-token-1" };
    const policy = { authorization: "Bearer policy-token-1" };
    assert.equal(
      (await publish(relay.url, "access.decision", {
        tx_id: "tx-real",
        decision: "deny",
        reason: "the real deny",
      }, policy)).status,
      200,
    );
    for (const decision of ["deny", "block", "allow", "warn", "deny"]) {
      const forged = { agent_id: "policy", tx_id: "tx-forged", decision, reason: "forged" };
      assert.equal((await publish(relay.url, "sensor.x", forged, sensor)).status, 200);
    }
    const all = { authorization: `Bearer ${await mint("ops", ["dashboard:view", "subscribe:*"])}` };
    await waitFor(async () => (await state(dash.url, all)).events === 6, 15_000, "feed");
    const overview = await (await fetch(`${dash.url}/api/overview`, { headers: all })).json();
    assert.deepEqual(overview.totals, { allow: 0, deny: 1, block: 0, warn: 0 });
    assert.deepEqual(overview.latest.map((r: { topic: string }) => r.topic), ["access.decision"]);
    const denies = await (await fetch(`${dash.url}/api/events?decision=deny`, { headers: all }))
      .json();
    assert.deepEqual(denies.events.map((e: { tx: string }) => e.tx), ["tx-real"]);
    const sensorCards = await (await fetch(`${dash.url}/api/events?topic=sensor.x`, {
      headers: all,
    })).json();
    assert.equal(
      sensorCards.events.length,
      5,
      "the sensor events are still shown, as sensor events",
    );
    assert.ok(sensorCards.events.every((e: { decision?: string }) => e.decision === undefined));
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("login: a credential with control characters is refused (401), never a 5xx, and never logged", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const lines: string[] = [];
  const log = createLogger({ service: "dashboard", level: "debug", sink: (l) => lines.push(l) });
  const dash = await dashboard.start(
    dashboard.resolve({
      port: 0,
      relay_url: relay.url,
      heartbeat: 200,
      retry: 200,
      auth_keys: [publicKey],
      login_rate: 100,
    }),
    { log },
  );
  try {
    const good = await mint("ops", ["dashboard:view", "subscribe:*"]);
    const sent: Array<[string, string]> = [
      ["application/x-www-form-urlencoded", `credential=${encodeURIComponent(`${good}\u0000`)}`],
      ["application/x-www-form-urlencoded", `credential=${encodeURIComponent(`${good}\r\nX: y`)}`],
      ["application/json", JSON.stringify({ credential: `${good}\nX: y` })],
      ["application/json", JSON.stringify({ credential: `\u0000${good}` })],
    ];
    for (const [type, body] of sent) {
      const res = await fetch(`${dash.url}/login`, {
        method: "POST",
        headers: { "content-type": type, accept: "application/json" },
        body,
      });
      const text = await res.text();
      assert.ok(res.status === 401 || res.status === 400, `${type}: ${res.status} ${text}`);
      assert.ok(!text.includes(good), "the credential is not echoed");
    }
    const logged = lines.join("\n");
    assert.ok(!logged.includes(good.slice(-20)), `the credential is in the log:\n${logged}`);
    assert.doesNotMatch(logged, /unhandled error/);
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("login: a next holding a control character sends the viewer to /, never a 5xx", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, { auth_keys: [publicKey], login_rate: 100 });
  try {
    const good = await mint("ops", ["dashboard:view", "subscribe:*"]);
    for (const next of ["/%00", "/events%00x", "/a%01b"]) {
      const res = await fetch(`${dash.url}/login?next=${next}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `credential=${encodeURIComponent(good)}`,
        redirect: "manual",
      });
      await res.body?.cancel();
      assert.equal(res.status, 303, next);
      assert.equal(res.headers.get("location"), "/", next);
    }
  } finally {
    await dash.close();
    await relay.close();
  }
});
