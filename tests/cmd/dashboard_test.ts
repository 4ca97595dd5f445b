/**
 * `iatp dashboard` over real sockets: pages under a strict CSP, the events page, same-origin SSE,
 * /tx with real audit receipts, static files, config errors.
 */
import assert from "node:assert/strict";
import { importSeed } from "../../core/crypto/mod.ts";
import { staticFiles } from "../../core/dashboard/mod.ts";
import { formatVkey } from "../../core/ledger/mod.ts";
import { openStream, publish, startRelay } from "../core/relay/relay_helpers.ts";
import { runIatp, tempDir, waitFor } from "../helpers.ts";
import { appendAudit, startAudit, startDashboard, state } from "./dashboard_helpers.ts";

const XSS = '<img src=x onerror="window.__xss=1">';

Deno.test("the pages render payloads as text under a strict CSP, scripts only from files", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url);
  try {
    await publish(relay.url, "access.intent", { tx_id: "tx-1", note: XSS });
    await publish(relay.url, "access.decision", { tx_id: "tx-1", decision: "deny" });
    await waitFor(async () => (await state(dash.url)).events === 2, 15_000, "dashboard feed");
    for (const path of ["/", "/activity", "/tx/tx-1"]) {
      const res = await fetch(dash.url + path);
      const html = await res.text();
      assert.equal(res.status, 200, path);
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.match(csp, /script-src 'self'/);
      assert.match(csp, /default-src 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.ok(!html.includes("<img"), `${path}: no markup from the payload`);
      assert.doesNotMatch(html, / key="/, `${path}: no JSX key leaks into the markup`);
      assert.doesNotMatch(html, / style="/, `${path}: no inline style`);
      const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
      for (const [, attrs, body] of scripts) {
        assert.match(attrs, /src="\/static\/client\/[a-z]+\.js"/, path);
        assert.equal(body, "", `${path}: no inline script`);
      }
      assert.match(html, /<link rel="icon" href="\/static\/client\/favicon.svg"/);
    }
    const activity = await (await fetch(`${dash.url}/activity`)).text();
    assert.ok(activity.includes("&lt;img src=x onerror="), "payload shown as text");
    assert.match(activity, /<span class="pill pill-deny">deny<\/span>/);
    assert.match(activity, /href="\/tx\/tx-1"/);
    assert.match(activity, /relay connected/);
    assert.match(
      activity,
      /tx tx-1 -&gt; deny: no policy permitted it/,
      "a deny states its reason",
    );
    const tx = await (await fetch(`${dash.url}/tx/tx-1`)).text();
    assert.doesNotMatch(tx, /href="\/tx\/tx-1"/, "the tx page does not link to itself");
    assert.match(tx, /<h1>Transaction tx-1<\/h1>/);
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("static files: browser code, vendored uPlot with its licence, favicon; never markup APIs", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url);
  try {
    const STATIC_FILES = await staticFiles();
    for (const [path, file] of STATIC_FILES) {
      const res = await fetch(`${dash.url}/static/${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type"), file.type, path);
      const body = await res.text();
      assert.equal(body, file.body);
      if (path.startsWith("client/") && path.endsWith(".js")) {
        assert.doesNotMatch(body, /innerHTML|insertAdjacentHTML|outerHTML|document\.write|eval\(/);
      }
    }
    assert.match(STATIC_FILES.get("vendor/uplot/LICENSE")!.body, /MIT License/);
    const icon = await fetch(`${dash.url}/favicon.ico`);
    assert.equal(icon.status, 200);
    assert.match(await icon.text(), /^<svg /);
    const missing = await fetch(`${dash.url}/static/nope.js`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("the dashboard stream resumes from Last-Event-ID and resets on unknown ids", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url);
  try {
    for (let n = 1; n <= 3; n++) await publish(relay.url, "sensor.cpu", { n });
    await waitFor(async () => (await state(dash.url)).events === 3, 15_000, "feed");
    const s = await openSseAt(dash.url);
    await s.until((e) => e.filter((x) => x.event === "message").length === 3);
    assert.equal(s.events.find((e) => e.event === "status")?.data.includes('"connected"'), true);
    const second = s.events.filter((e) => e.event === "message")[1].id!;
    await publish(relay.url, "sensor.cpu", { n: 4 });
    await s.until((e) => e.filter((x) => x.event === "message").length === 4, 15_000, "live");
    await s.close();
    const resumed = await openSseAt(dash.url, { "last-event-id": second });
    await resumed.until((e) => e.filter((x) => x.event === "message").length === 2);
    assert.deepEqual(resumed.messages().map((m) => (m.json.payload as { n: number }).n), [3, 4]);
    assert.ok(!resumed.events.some((e) => e.event === "reset"));
    await resumed.close();
    const unknown = await openSseAt(dash.url, { "last-event-id": "zzzz-9" });
    await unknown.until((e) => e.filter((x) => x.event === "message").length === 4);
    assert.equal(unknown.events[0].event, "reset");
    await unknown.close();
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("a browser stream that ends frees its slot; HEAD /events takes none", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url);
  const clients = async () => (await (await fetch(`${dash.url}/health`)).json()).clients;
  try {
    const s = await openSseAt(dash.url);
    await s.until((e) => e.some((x) => x.event === "status"));
    assert.equal(await clients(), 1);
    await s.close();
    await waitFor(async () => await clients() === 0, 10_000, "the slot freed");
    const head = await fetch(`${dash.url}/events`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(await clients(), 0);
  } finally {
    await dash.close();
    await relay.close();
  }
});

function openSseAt(url: string, headers: Record<string, string> = {}) {
  return openStream(`${url}/events`, headers);
}

Deno.test("/tx shows intent, decision and audit entries with receipts verified server-side", async () => {
  const dir = await tempDir();
  const relay = await startRelay();
  const { svc: ledger, vkey } = await startAudit(dir.path);
  const dash = await startDashboard(relay.url, { audit_url: ledger.url, audit_public_key: vkey });
  try {
    await publish(relay.url, "access.intent", { tx_id: "tx-42", subject: { id: "u1" } });
    await publish(relay.url, "access.decision", { tx_id: "tx-42", decision: "allow" });
    await publish(relay.url, "access.intent", { tx_id: "tx-other" });
    await appendAudit(ledger.url, {
      tx_id: "tx-42",
      event: "decision",
      actor: "policy",
      payload: { d: XSS },
    });
    await appendAudit(ledger.url, {
      tx_id: "tx-other",
      event: "decision",
      actor: "policy",
      payload: {},
    });
    await waitFor(async () => (await state(dash.url)).events === 3, 15_000, "feed");
    const view = await (await fetch(`${dash.url}/tx/tx-42?format=json`)).json();
    assert.equal(view.intents.length, 1);
    assert.equal(view.decisions.length, 1);
    assert.equal(view.decisions[0].payload.decision, "allow");
    assert.equal(view.audit.state, "ok");
    assert.equal(view.audit.entries.length, 1);
    assert.equal(view.audit.entries[0].verified, true, JSON.stringify(view.audit));
    assert.equal(view.audit.entries[0].receipt, "verified");
    const page = await fetch(`${dash.url}/tx/tx-42`);
    const html = await page.text();
    assert.match(html, /receipt verified/);
    assert.ok(!html.includes("key not pinned"));
    assert.ok(!html.includes("<img"));
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
  } finally {
    await dash.close();
    await ledger.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("/tx without audit_public_key never says verified: proof ok, key not pinned, and how to pin it", async () => {
  const dir = await tempDir();
  const relay = await startRelay();
  // An audit service whose key the dashboard was not given: its own, or one an impostor made.
  const { svc: ledger } = await startAudit(dir.path);
  const dash = await startDashboard(relay.url, { audit_url: ledger.url });
  try {
    await appendAudit(ledger.url, { tx_id: "tx-u", event: "e", actor: "a", payload: { n: 1 } });
    const v = await (await fetch(`${dash.url}/tx/tx-u?format=json`)).json();
    assert.equal(v.audit.state, "ok");
    const e = v.audit.entries[0];
    assert.equal(e.verified, false, JSON.stringify(e));
    assert.equal(e.receipt, "unpinned");
    assert.match(e.reason, /key not pinned: set audit_public_key/);
    const html = await (await fetch(`${dash.url}/tx/tx-u`)).text();
    assert.ok(!html.includes("receipt verified"), "verified without a pinned key");
    assert.match(html, /<span class="unpinned">proof ok, key not pinned<\/span>/);
    assert.match(html, /id="audit-unpinned"[^>]*>[^<]*no audit key is pinned/);
    assert.match(html, /<code>audit_public_key<\/code>/);
    // The timeline's step is neither ok nor bad.
    assert.match(html, /class="step"[^>]*>(?:(?!<\/li>).)*proof ok, key not pinned/s);
  } finally {
    await dash.close();
    await ledger.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("/tx marks receipts failed when the audit answer is altered or the key is wrong", async () => {
  const dir = await tempDir();
  const relay = await startRelay();
  const { svc: ledger } = await startAudit(dir.path);
  // A tampering hop in front of the real audit service: same wire format, altered payload.
  const tamper = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (!path.startsWith("/tx/")) return await fetch(ledger.url + path, { headers: req.headers });
    const upstream = await fetch(ledger.url + path);
    const body = await upstream.json();
    // The ledger lists the entries (compat upstream, its default).
    for (const e of body) e.payload = { ...e.payload, amount: 1_000_000 };
    return Response.json(body, { status: upstream.status });
  });
  const tamperUrl = `http://127.0.0.1:${tamper.addr.port}`;
  const other = await importSeed(crypto.getRandomValues(new Uint8Array(32)));
  const wrongKey = formatVkey("test-audit", other.publicRaw);
  const altered = await startDashboard(relay.url, { audit_url: tamperUrl });
  const wrong = await startDashboard(relay.url, {
    audit_url: ledger.url,
    audit_public_key: wrongKey,
  });
  try {
    await appendAudit(ledger.url, {
      tx_id: "tx-7",
      event: "e",
      actor: "a",
      payload: { amount: 1 },
    });
    const a = await (await fetch(`${altered.url}/tx/tx-7?format=json`)).json();
    assert.equal(a.audit.entries[0].verified, false);
    assert.equal(a.audit.entries[0].receipt, "failed");
    assert.match(a.audit.entries[0].reason, /root_hash/);
    const w = await (await fetch(`${wrong.url}/tx/tx-7?format=json`)).json();
    assert.equal(w.audit.entries[0].verified, false);
    assert.match(w.audit.entries[0].reason, /signature/);
    assert.match(await (await fetch(`${wrong.url}/tx/tx-7`)).text(), /receipt failed/);
  } finally {
    await altered.close();
    await wrong.close();
    await tamper.shutdown();
    await ledger.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("/tx works without audit, rejects bad ids, and never writes to relay or audit", async () => {
  const dir = await tempDir();
  const relay = await startRelay();
  const { svc: ledger } = await startAudit(dir.path);
  const dash = await startDashboard(relay.url, { audit_url: ledger.url });
  const plain = await startDashboard(relay.url);
  try {
    await publish(relay.url, "access.intent", { tx_id: "t9" });
    await waitFor(async () => (await state(plain.url)).events === 1, 15_000, "feed");
    await waitFor(async () => (await state(dash.url)).events === 1, 15_000, "feed");
    const v = await (await fetch(`${plain.url}/tx/t9?format=json`)).json();
    assert.equal(v.audit.state, "not_configured");
    assert.equal(v.intents.length, 1);
    assert.match(await (await fetch(`${plain.url}/tx/t9`)).text(), /No audit service configured/);
    const bad = await fetch(`${plain.url}/tx/${encodeURIComponent("a b<")}`);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error, "invalid transaction id");
    for (
      const path of [
        "/",
        "/activity",
        "/tx/t9",
        "/tx/t9?format=json",
        "/api/state",
        "/api/overview",
      ]
    ) {
      await (await fetch(dash.url + path)).body?.cancel();
    }
    const topics = await (await fetch(`${relay.url}/topics`)).json();
    assert.deepEqual(topics.topics.map((t: { topic: string }) => t.topic), ["access.intent"]);
    assert.equal(topics.topics[0].count, 1, "the dashboard published nothing");
    const health = await (await fetch(`${ledger.url}/health`)).json();
    assert.equal(health.tree_size, 0, "the dashboard appended nothing");
    const post = await fetch(`${dash.url}/tx/t9`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    await dash.close();
    await plain.close();
    await ledger.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("with the relay down the page says so and keeps serving", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (l.addr as Deno.NetAddr).port;
  l.close();
  const dash = await startDashboard(`http://127.0.0.1:${deadPort}`);
  try {
    await waitFor(async () => (await state(dash.url)).relay.state === "unreachable", 15_000);
    const res = await fetch(`${dash.url}/`);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /relay unreachable, retrying/);
    assert.match(html, /waiting for the relay/, "the empty state says what to start");
    assert.equal((html.match(/class="status"/g) ?? []).length, 1, "one status indicator");
    const health = await (await fetch(`${dash.url}/health`)).json();
    assert.equal(health.relay, "unreachable");
  } finally {
    await dash.close();
  }
});

Deno.test("huge events are kept within history_bytes: the oldest go, the newest stays", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url, { history_bytes: 64 * 1024 });
  const newest = async () =>
    (await (await fetch(`${dash.url}/api/events?limit=200`)).json()).events as Array<
      { event_id: string }
    >;
  try {
    const blob = "x".repeat(20_000);
    let last = "";
    for (let i = 0; i < 10; i++) {
      last = String(
        (await publish(relay.url, "sensor.big", { agent_id: "s1", i, blob })).body
          .event_id,
      );
    }
    await waitFor(async () => (await newest())[0]?.event_id === last, 15_000, "the last event");
    const kept = (await state(dash.url)).events;
    assert.ok(kept >= 2 && kept <= 3, `20 KB events within 64 KiB: ${kept} kept`);
    // One event beyond the bound on its own is still kept, alone.
    const huge = await publish(relay.url, "sensor.big", { agent_id: "s1", blob: blob.repeat(5) });
    const id = String(huge.body.event_id);
    await waitFor(async () => (await newest())[0]?.event_id === id, 15_000, "the huge event");
    assert.equal((await state(dash.url)).events, 1);
    assert.equal((await newest()).length, 1);
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("bad dashboard config exits 2 naming the key", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--topics", "a b"], /config error: topics/],
    [["--relay-url", "ftp://x"], /config error: relay_url/],
    [["--audit-public-key", "nope"], /config error: audit_public_key/],
    [["--history", "0"], /config error: history/],
    [["--services", "policy"], /config error: services/],
    [["--services", "p=ftp://x"], /config error: services/],
    // What was found is the entry, said once (not "found expected ..., got ...").
    [
      ["--services", "policy:http://127.0.0.1:8002"],
      /services \(flag --services\): expected name=http\(s\):\/\/host:port entries .*, found "policy:http:\/\/127\.0\.0\.1:8002"$/m,
    ],
    [["--host", "0.0.0.0"], /config error: auth_keys/],
    [["--auth-keys", "iatp-ed25519:short"], /config error: auth_keys/],
    [["--relay-token", "file:/nonexistent/token"], /config error: relay_token/],
  ];
  for (const [args, want] of cases) {
    const r = await runIatp(["dashboard", "--port", "0", ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, want);
  }
});

Deno.test("a sidecar transaction tells its story: request, block, ledger entry verified", async () => {
  const dir = await tempDir();
  const relay = await startRelay();
  const { svc: ledger, vkey } = await startAudit(dir.path);
  const dash = await startDashboard(relay.url, { audit_url: ledger.url, audit_public_key: vkey });
  try {
    const trace = "0c1f7a52-8d2e-4c6b-9a31-7f0e2b4c5d6e";
    const base = { trace_id: trace, agent_id: "demo-assistant" };
    await publish(relay.url, "iatp.trace", {
      ...base,
      type: "request",
      details: { method: "POST", path: "/proxy/chat", payload_bytes: 52, sensitive: { ssn: true } },
    });
    const error = "Privacy Violation: SSN data can only be sent to agents with ephemeral retention";
    await publish(relay.url, "iatp.trace", {
      ...base,
      type: "blocked",
      decision: "block",
      status: 403,
      details: { reason: "ssn", error, status: 403 },
    });
    await appendAudit(ledger.url, {
      tx_id: trace,
      event: "iatp.block",
      actor: "demo-assistant",
      payload: { decision: "block", trace_id: trace, reason: "ssn" },
    });
    await waitFor(async () => (await state(dash.url)).events === 2, 15_000, "feed");
    const html = await (await fetch(`${dash.url}/tx/${trace}`)).text();
    const steps = [...html.matchAll(/<span class="step-title">([^<]+)<\/span>/g)].map((m) => m[1]);
    assert.deepEqual(steps, [
      "Sidecar received the request",
      "Sidecar blocked the request",
      "Ledger entry #0: iatp.block",
    ]);
    assert.match(html, /<h1>Transaction 0c1f7a52-8d2e-4c6b-9a31-7f0e2b4c5d6e<\/h1>/);
    assert.match(
      html,
      /id="outcome"[^>]*><span class="pill pill-block">block<\/span> demo-assistant: Privacy Violation/,
    );
    assert.match(html, /<h2 id="intent-h">Request<\/h2>/);
    assert.match(html, /receipt verified/);
  } finally {
    await dash.close();
    await ledger.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("bidirectional controls in names, payloads, health and ledger entries are shown as U+FFFD", async () => {
  const dir = await tempDir();
  const relay = await startRelay();
  const { svc: audit } = await startAudit(dir.path);
  // A service whose /health reason holds an override too.
  const health = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ status: "degraded", reason: "disk \u202eLLUF\u202c" }),
  );
  const dash = await startDashboard(relay.url, {
    audit_url: audit.url,
    services: [`disk=http://127.0.0.1:${health.addr.port}`],
    health_interval: 100,
  });
  // Drawn right to left from the override on: "agent-gpj.exe" reads "agent-exe.jpg".
  const spoof = "agent-\u202egpj.exe";
  const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;
  try {
    await appendAudit(audit.url, {
      tx_id: "tx-b",
      event: "access.decision",
      actor: "po\u2067licy",
      payload: { note: "\u200fx" },
    });
    await publish(relay.url, "iatp.trace", {
      trace_id: "tx-b",
      type: "blocked",
      agent_id: spoof,
      decision: "block",
      details: { error: "\u202dforbidden", ["k\u2066ey"]: "v" },
    });
    await waitFor(async () => (await state(dash.url)).events === 1, 15_000, "feed");
    await waitFor(
      async () => (await (await fetch(`${dash.url}/api/overview`)).text()).includes("disk"),
      15_000,
      "health",
    );
    await waitFor(
      async () => (await (await fetch(`${dash.url}/api/overview`)).text()).includes("LLUF"),
      15_000,
      "health reason",
    );
    for (
      const path of [
        "/",
        "/activity",
        "/tx/tx-b",
        "/api/events",
        "/api/overview",
        "/tx/tx-b?format=json",
      ]
    ) {
      const body = await (await fetch(dash.url + path)).text();
      assert.doesNotMatch(body, BIDI, `${path}: a bidirectional control reached it`);
    }
    const events = (await (await fetch(`${dash.url}/api/events`)).json()).events;
    assert.equal(events[0].agent, "agent-\ufffdgpj.exe");
    const tx = await (await fetch(`${dash.url}/tx/tx-b?format=json`)).json();
    assert.equal(tx.audit.entries[0].actor, "po\ufffdlicy");
  } finally {
    await dash.close();
    await health.shutdown();
    await audit.close();
    await relay.close();
    await dir.remove();
  }
});

// The slot goes with the cut, not with the connection, which is closed once the socket took the
// overflow event or after overflow_wait (the subscriber's own tests follow that part).
Deno.test("a browser stream that never reads is cut off at queue_bytes, its slot freed at the cut; overflow_wait is a dashboard setting", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url, { queue_bytes: 64 * 1024, overflow_wait: 200 });
  const clients = async () => (await (await fetch(`${dash.url}/health`)).json()).clients;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(dash.url).port) });
  try {
    await conn.write(
      new TextEncoder().encode(`GET /events HTTP/1.1\r\nHost: ${new URL(dash.url).host}\r\n\r\n`),
    );
    await waitFor(async () => await clients() === 1, 10_000, "the stream opened");
    // Far more than the queue and the loopback socket's buffers hold, read by nobody.
    const text = "x".repeat(60_000);
    for (let i = 0; i < 400 && await clients() === 1; i++) {
      assert.equal((await publish(relay.url, "sensor.big", { i, text })).status, 200);
    }
    await waitFor(async () => await clients() === 0, 30_000, "the cut stream's slot freed");
    // The dashboard serves a new stream meanwhile.
    const s = await openSseAt(dash.url);
    await s.until((e) => e.some((x) => x.event === "status"));
    await s.close();
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
    await dash.close();
    await relay.close();
  }
});
