/** `iatp dashboard` over real sockets: page, CSP, same-origin SSE, /tx with real audit receipts. */
import assert from "node:assert/strict";
import { command as audit } from "../../cmd/audit.ts";
import { command as dashboard } from "../../cmd/dashboard.ts";
import { importSeed, toBase64 } from "../../core/crypto/ed25519.ts";
import type { Service } from "../../core/http/mod.ts";
import { formatVkey } from "../../core/ledger/note.ts";
import { openStream, publish, quietLog, startRelay } from "../core/relay/relay_helpers.ts";
import { runIatp, tempDir, waitFor } from "../helpers.ts";

const XSS = '<img src=x onerror="window.__xss=1">';

function startDashboard(relayUrl: string, extra: Record<string, unknown> = {}): Promise<Service> {
  return dashboard.start(
    dashboard.resolve({ port: 0, relay: relayUrl, heartbeat: 200, retry: 200, ...extra }),
    { log: quietLog },
  );
}

async function state(url: string) {
  return await (await fetch(`${url}/api/state`)).json();
}

Deno.test("the page renders payloads as text under a strict CSP", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url);
  try {
    await publish(relay.url, "access.intent", { tx_id: "tx-1", note: XSS });
    await publish(relay.url, "access.decision", { tx_id: "tx-1", decision: "deny" });
    await waitFor(async () => (await state(dash.url)).events === 2, 15_000, "dashboard feed");
    const res = await fetch(`${dash.url}/`);
    const html = await res.text();
    assert.equal(res.status, 200);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.ok(!html.includes("<img"), "no markup from the payload");
    assert.ok(html.includes("&lt;img src=x onerror="), "payload shown as text");
    assert.match(html, /<span class="pill pill-deny">deny<\/span>/);
    assert.match(html, /href="\/tx\/tx-1"/);
    assert.match(html, /relay connected/);
    // Only same-origin external scripts, nothing inline.
    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.equal(scripts.length, 1);
    assert.match(scripts[0][1], /src="\/static\/app.js"/);
    assert.equal(scripts[0][2], "");
    const js = await fetch(`${dash.url}/static/app.js`);
    assert.match(js.headers.get("content-type") ?? "", /javascript/);
    assert.doesNotMatch(await js.text(), /innerHTML|insertAdjacentHTML|outerHTML|document\.write/);
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

function openSseAt(url: string, headers: Record<string, string> = {}) {
  return openStream(`${url}/events`, headers);
}

/** Starts a real audit service with a known key; returns it with its verifier key. */
async function startAudit(dir: string) {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const key = await importSeed(seed);
  const svc = await audit.start(
    audit.spec.resolve({
      port: 0,
      db: `${dir}/audit.db`,
      signing_key: toBase64(seed),
      origin: "test-audit",
    }),
    { log: quietLog },
  );
  return { svc, vkey: formatVkey("test-audit", key.publicRaw) };
}

async function appendAudit(url: string, entry: Record<string, unknown>) {
  const res = await fetch(`${url}/audit`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(entry),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return await res.json();
}

Deno.test("/tx shows intent, decision and audit entries with receipts verified server-side", async () => {
  const dir = await tempDir();
  const relay = await startRelay();
  const { svc: ledger, vkey } = await startAudit(dir.path);
  const dash = await startDashboard(relay.url, { audit: ledger.url, audit_public_key: vkey });
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
    const page = await fetch(`${dash.url}/tx/tx-42`);
    const html = await page.text();
    assert.match(html, /receipt verified/);
    assert.ok(!html.includes("<img"));
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
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
    const upstream = await fetch(ledger.url + new URL(req.url).pathname);
    const body = await upstream.json();
    for (const e of body.entries ?? []) e.payload = { ...e.payload, amount: 1_000_000 };
    return Response.json(body, { status: upstream.status });
  });
  const tamperUrl = `http://127.0.0.1:${tamper.addr.port}`;
  const other = await importSeed(crypto.getRandomValues(new Uint8Array(32)));
  const wrongKey = formatVkey("test-audit", other.publicRaw);
  const altered = await startDashboard(relay.url, { audit: tamperUrl });
  const wrong = await startDashboard(relay.url, { audit: ledger.url, audit_public_key: wrongKey });
  try {
    await appendAudit(ledger.url, {
      tx_id: "tx-7",
      event: "e",
      actor: "a",
      payload: { amount: 1 },
    });
    const a = await (await fetch(`${altered.url}/tx/tx-7?format=json`)).json();
    assert.equal(a.audit.entries[0].verified, false);
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
  const dash = await startDashboard(relay.url, { audit: ledger.url });
  const plain = await startDashboard(relay.url);
  try {
    await publish(relay.url, "access.intent", { tx_id: "t9" });
    await waitFor(async () => (await state(plain.url)).events === 1, 15_000, "feed");
    const v = await (await fetch(`${plain.url}/tx/t9?format=json`)).json();
    assert.equal(v.audit.state, "not_configured");
    assert.equal(v.intents.length, 1);
    assert.match(await (await fetch(`${plain.url}/tx/t9`)).text(), /No audit service configured/);
    const bad = await fetch(`${plain.url}/tx/${encodeURIComponent("a b<")}`);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error, "invalid transaction id");
    for (const path of ["/", "/tx/t9", "/tx/t9?format=json", "/api/state"]) {
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
    assert.match(await res.text(), /relay unreachable, retrying/);
    const health = await (await fetch(`${dash.url}/health`)).json();
    assert.equal(health.relay, "unreachable");
  } finally {
    await dash.close();
  }
});

Deno.test("bad dashboard config exits 2 naming the key", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--topics", "a b"], /config error: topics/],
    [["--relay", "ftp://x"], /config error: relay/],
    [["--audit-public-key", "nope"], /config error: audit_public_key/],
    [["--history", "0"], /config error: history/],
  ];
  for (const [args, want] of cases) {
    const r = await runIatp(["dashboard", "--port", "0", ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, want);
  }
});
