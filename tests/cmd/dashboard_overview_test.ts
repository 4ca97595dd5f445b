/**
 * The overview over real sockets: each configured service's health polled (up, down, last
 * seen), services heard from on the relay, the ledger checkpoint verified with the pinned key
 * and consistency proofs (and refused when a checkpoint is not the log's; "unpinned", never
 * verified, without a pinned key), decisions counted.
 */
import assert from "node:assert/strict";
import { createHealthServer } from "../../core/agents/mod.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { publish, startRelay } from "../core/relay/relay_helpers.ts";
import { tempDir, waitFor } from "../helpers.ts";
import { appendAudit, startAudit, startDashboard } from "./dashboard_helpers.ts";

async function overview(url: string) {
  const res = await fetch(`${url}/api/overview`);
  assert.equal(res.status, 200);
  return await res.json();
}

function deadUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}`;
}

Deno.test("the overview shows every service's health, the ledger verified, and the traffic", async () => {
  const dir = await tempDir();
  const relay = await startRelay();
  const { svc: ledger, vkey } = await startAudit(dir.path);
  const dash = await startDashboard(relay.url, {
    audit_url: ledger.url,
    audit_public_key: vkey,
    services: [`ghost=${deadUrl()}`, `relay-health=${relay.url}`],
    health_interval: 100,
    health_timeout: 500,
  });
  try {
    await appendAudit(ledger.url, { tx_id: "t1", event: "access.decision", actor: "policy" });
    await publish(relay.url, "access.decision", { tx_id: "t1", decision: "deny" });
    await publish(relay.url, "iatp.trace", {
      type: "blocked",
      agent_id: "ag-1",
      decision: "block",
    });
    await publish(relay.url, "sensor.cpu.high", { agent_id: "sensor-1", value: 97 });
    let o = await overview(dash.url);
    await waitFor(
      async () => {
        o = await overview(dash.url);
        return o.ledger.state === "verified" && o.ledger.tree_size === 1 &&
          o.services.find((s: { name: string }) => s.name === "ghost")?.state === "down" &&
          o.totals.block === 1;
      },
      15_000,
      "overview",
    );
    type Row = { name: string; state: string; kind: string; last_seen?: string };
    const rows: Row[] = o.services;
    const byName = new Map(rows.map((s) => [s.name, s]));
    const row = (name: string): Row => byName.get(name) ?? assert.fail(`no service ${name}`);
    assert.equal(row("relay").state, "up");
    assert.equal(row("audit").state, "up");
    assert.ok(row("audit").last_seen);
    assert.equal(row("relay-health").state, "up");
    assert.equal(row("ghost").last_seen, undefined, "never seen");
    assert.equal(row("ag-1").state, "seen", "a sidecar known from its events");
    assert.equal(row("sensor-1").kind, "sensor");
    assert.equal(o.ledger.pinned, true);
    assert.deepEqual(o.sensors, [{ type: "cpu.high", count: 1 }]);
    assert.equal(o.totals.deny, 1);
    assert.equal(o.agents[0].agent_id, "ag-1");
    // A grown log is still verified: the dashboard checked a consistency proof to get there.
    await appendAudit(ledger.url, { tx_id: "t2", event: "access.decision", actor: "policy" });
    await appendAudit(ledger.url, { tx_id: "t3", event: "access.decision", actor: "policy" });
    await waitFor(async () => (await overview(dash.url)).ledger.tree_size === 3, 15_000, "growth");
    assert.equal((await overview(dash.url)).ledger.state, "verified");
    const html = await (await fetch(`${dash.url}/`)).text();
    assert.match(html, /verified with the configured key/);
    assert.match(html, /data-service="ghost" data-state="down"/);
  } finally {
    await dash.close();
    await ledger.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("a checkpoint not signed by the pinned key, or not extending the last one, fails", async () => {
  const dir = await tempDir();
  const other = await tempDir();
  const relay = await startRelay();
  const { svc: ledger, vkey } = await startAudit(dir.path);
  const { svc: impostor } = await startAudit(other.path);
  let target = ledger.url;
  // One URL whose answers come from the real ledger, then from another one.
  const hop = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const u = new URL(req.url);
    return fetch(target + u.pathname + u.search, { headers: req.headers });
  });
  const hopUrl = `http://127.0.0.1:${hop.addr.port}`;
  const pinned = await startDashboard(relay.url, {
    audit_url: hopUrl,
    audit_public_key: vkey,
    health_interval: 100,
  });
  const unpinned = await startDashboard(relay.url, { audit_url: hopUrl, health_interval: 100 });
  try {
    await appendAudit(ledger.url, { tx_id: "t1", event: "e", actor: "a" });
    await appendAudit(ledger.url, { tx_id: "t2", event: "e", actor: "a" });
    for (const d of [pinned, unpinned]) {
      await waitFor(async () => (await overview(d.url)).ledger.tree_size === 2, 15_000, "seen");
    }
    // Without a pinned key the checkpoint is never "verified": anyone answering as the audit
    // service would pass, so a JSON consumer reading only `state` must not see it as verified.
    const u = (await overview(unpinned.url)).ledger;
    assert.equal(u.state, "unpinned", JSON.stringify(u));
    assert.equal(u.pinned, false);
    const html = await (await fetch(`${unpinned.url}/`)).text();
    assert.ok(!/verified/.test(html.match(/<section id="ledger".*?<\/section>/s)![0]), html);
    assert.match(html, /id="ledger"[^>]*data-state="unpinned"/);
    assert.match(html, /<dd class="unpinned">checkpoint ok, key not pinned/);
    assert.match(html, /<code>audit_public_key<\/code>/);
    assert.match(html, /<code>IATP_DASHBOARD_AUDIT_PUBLIC_KEY<\/code>/);
    target = impostor.url;
    await waitFor(async () => (await overview(pinned.url)).ledger.state === "failed", 15_000);
    assert.match((await overview(pinned.url)).ledger.reason, /not signed by test-audit/);
    // Unpinned, the other log's own key verifies its note, but it does not extend what was seen.
    await waitFor(async () => (await overview(unpinned.url)).ledger.state === "failed", 15_000);
    assert.match((await overview(unpinned.url)).ledger.reason, /log shrank from 2 to 0/);
  } finally {
    await unpinned.close();
    await pinned.close();
    await hop.shutdown();
    await impostor.close();
    await ledger.close();
    await relay.close();
    await dir.remove();
    await other.remove();
  }
});

Deno.test("a service whose health says degraded shows degraded, with its reason", async () => {
  const relay = await startRelay();
  let audit = { ok: false, configured: true, reason: "read-only file system" };
  const agent = createHealthServer({
    service: "sensor",
    agentId: "sensor-9",
    host: "127.0.0.1",
    port: 0,
    healthPath: "/health",
    metrics: { enabled: false, path: "/metrics" },
    log: silentLogger,
    components: () => ({ audit }),
  });
  const svc = await agent.listen();
  const dash = await startDashboard(relay.url, {
    services: [`sensor=${svc.url}`],
    health_interval: 100,
    health_timeout: 500,
  });
  type Row = { name: string; state: string; note?: string };
  const row = async () =>
    ((await overview(dash.url)).services as Row[]).find((s) => s.name === "sensor");
  try {
    await waitFor(async () => (await row())?.state === "degraded", 15_000, "degraded");
    assert.match((await row())?.note ?? "", /audit: read-only file system/);
    const html = await (await fetch(`${dash.url}/`)).text();
    assert.match(html, /data-service="sensor" data-state="degraded"/);
    audit = { ok: true, configured: true, reason: "" };
    await waitFor(async () => (await row())?.state === "up", 15_000, "up again");
  } finally {
    await dash.close();
    await svc.close();
    await relay.close();
  }
});

Deno.test("a service's health reason, shown to every viewer, has its secrets masked", async () => {
  const relay = await startRelay();
  // A service of the operator's that quotes its connection string when its database is down.
  const service = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      Response.json({
        status: "degraded",
        service: "billing",
        reason: "db postgres://billing:pw-db-42@db:5432 down; token=tk-9f8e7d",
      }),
  );
  const dash = await startDashboard(relay.url, {
    services: [`billing=http://127.0.0.1:${service.addr.port}`],
    health_interval: 100,
    health_timeout: 500,
  });
  type Row = { name: string; state: string; note?: string };
  const row = async () =>
    ((await overview(dash.url)).services as Row[]).find((s) => s.name === "billing");
  try {
    await waitFor(async () => (await row())?.state === "degraded", 15_000, "degraded");
    const texts = [
      JSON.stringify(await overview(dash.url)),
      await (await fetch(`${dash.url}/`)).text(),
    ];
    for (const text of texts) {
      assert.ok(!text.includes("pw-db-42"), "the password shown");
      assert.ok(!text.includes("tk-9f8e7d"), "the token shown");
    }
    assert.match((await row())?.note ?? "", /db postgres:\/\/billing:\[REDACTED\]@db:5432 down/);
  } finally {
    await dash.close();
    await service.shutdown();
    await relay.close();
  }
});

Deno.test("an agent id holding a lone surrogate (valid JSON) still renders the overview", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url);
  try {
    // JSON.stringify writes a lone surrogate as the escape `\ud800`, which JSON.parse accepts.
    await publish(relay.url, "iatp.trace", {
      type: "blocked",
      agent_id: "ag-\ud800",
      decision: "block",
    });
    await waitFor(async () => (await overview(dash.url)).agents.length === 1, 15_000, "agent");
    const res = await fetch(`${dash.url}/`);
    const html = await res.text();
    assert.equal(res.status, 200, html.slice(0, 200));
    assert.match(html, /href="\/activity\?agent=ag-%EF%BF%BD"/);
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("agent and host names differing only by an invisible character do not look alike", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url);
  try {
    const agents = [
      "agent-1",
      "agent-1\u200b",
      "agent\u2060-1",
      "\ufeffagent-1",
      "agent-1\u001b[2K",
    ];
    for (const agent_id of agents) {
      await publish(relay.url, "iatp.trace", { type: "blocked", agent_id, decision: "block" });
    }
    await publish(relay.url, "status.host", { host: "db\u00ad1\u0000", message: "up" });
    await waitFor(
      async () => (await overview(dash.url)).agents.length === agents.length,
      15_000,
      "agents",
    );
    const o = await overview(dash.url);
    const shown = o.agents.map((a: { agent_id: string }) => a.agent_id).sort();
    assert.deepEqual(
      shown,
      [
        "\ufffdagent-1",
        "agent-1",
        "agent-1\ufffd[2K",
        "agent-1\ufffd",
        "agent\ufffd-1",
      ].sort(),
    );
    // The latest blocks name each agent as its row does.
    const summaries = o.latest.map((r: { summary: string }) => r.summary);
    assert.ok(summaries.includes("agent-1\ufffd -> block : blocked"), JSON.stringify(summaries));
    assert.ok(
      summaries.every((t: string) => !/[\p{Cc}\p{Cf}]/u.test(t)),
      JSON.stringify(summaries),
    );
    await waitFor(
      async () =>
        (await overview(dash.url)).services.some((s: { name: string }) =>
          s.name === "db\ufffd1\ufffd"
        ),
      15_000,
      "host",
    );
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("long agent and host names are cut, so the overview stays small", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url);
  const long = (i: number) => `name-${i}-` + "x".repeat(20_000);
  try {
    for (let i = 0; i < 40; i++) {
      await publish(relay.url, "iatp.trace", {
        type: "blocked",
        agent_id: long(i),
        decision: "block",
      });
      await publish(relay.url, "status.host", { host: long(i), message: "up" });
    }
    await waitFor(async () => (await overview(dash.url)).agents.length === 40, 15_000, "agents");
    const o = await overview(dash.url);
    const names: string[] = [
      ...o.agents.map((a: { agent_id: string }) => a.agent_id),
      ...o.services.map((s: { name: string }) => s.name),
    ];
    assert.ok(names.every((n) => n.length <= 128), "every name cut to 128 characters");
    assert.ok(o.agents.every((a: { agent_id: string }) => a.agent_id.endsWith("…")));
    const html = await (await fetch(`${dash.url}/`)).text();
    // 40 agents and 40 hosts of 20,000 characters each would be well over 2 MB of page.
    assert.ok(html.length < 256 * 1024, `overview of ${html.length} bytes`);
    // The cut name still finds its events.
    const agent = o.agents[0].agent_id;
    const found = await (await fetch(`${dash.url}/api/events?agent=${encodeURIComponent(agent)}`))
      .json();
    assert.equal(found.events.length, 1);
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("a user name, password or query in a service URL reaches no answer", async () => {
  const relay = await startRelay();
  const withSecret = relay.url.replace("http://", "http://relayuser:relay-pw-1@");
  const dash = await startDashboard(withSecret, {
    services: [`policy=${deadUrl().replace("http://", "http://admin:policy-pw-2@")}/?token=tk-3`],
    health_interval: 100,
    health_timeout: 500,
  });
  try {
    await waitFor(
      async () =>
        (await overview(dash.url)).services.some((s: { state: string }) => s.state === "down"),
      15_000,
      "polled",
    );
    const json = JSON.stringify(await overview(dash.url));
    const html = await (await fetch(`${dash.url}/`)).text();
    for (const body of [json, html]) {
      for (const secret of ["relay-pw-1", "policy-pw-2", "tk-3", "admin", "relayuser"]) {
        assert.ok(!body.includes(secret), `${secret} shown`);
      }
    }
    assert.match(json, /"url":"http:\/\/127\.0\.0\.1:\d+"/);
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("the overview page shows at most 100 rows of each list and counts the rest", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url);
  try {
    for (let i = 0; i < 130; i++) {
      await publish(relay.url, "iatp.trace", {
        type: "blocked",
        agent_id: `ag-${i}`,
        decision: "block",
      });
      await publish(relay.url, `sensor.kind${i}`, { agent_id: "sensor-1", value: i });
    }
    await waitFor(async () => (await overview(dash.url)).agents.length === 130, 15_000, "agents");
    await waitFor(async () => (await overview(dash.url)).sensors.length === 130, 15_000, "sensors");
    const html = await (await fetch(`${dash.url}/`)).text();
    const count = (re: RegExp) => html.match(re)?.length ?? 0;
    assert.equal(count(/<tr data-agent=/g), 100);
    // The relay, 130 sidecars and the sensor: 132 services.
    assert.equal(count(/<tr data-service=/g), 100);
    assert.equal(count(/href="\/activity\?topic=sensor\./g), 100);
    assert.match(html, /30 more agents not shown \(the least recently active\)/);
    assert.match(html, /32 more services not shown/);
    assert.match(html, /30 more sensor types not shown/);
    // The newest agent is on the page; the JSON lists them all.
    assert.match(html, /data-agent="ag-129"/);
    assert.doesNotMatch(html, /data-agent="ag-0"/);
  } finally {
    await dash.close();
    await relay.close();
  }
});
