/**
 * IG&S interop: `iatp relay`, `iatp policy` and `iatp audit` under their default
 * `compat: upstream` against what the IG&S mesh's clients and tests expect (idmfrank/igs:
 * `apps/relay/main.py`, `apps/policy/main.py`, `apps/audit/main.py`, the dashboard page in
 * `apps/dashboard/main.py`, `tests/relay/test_main.py`, `scripts/publish_intent.py`), over real
 * sockets; and iatp's own clients against the same defaults. With `IATP_UPSTREAM_SNAPSHOTS`
 * set, upstream's own services answer the same cases side by side and `publish_intent.py`
 * runs unchanged against iatp's relay.
 */
import assert from "node:assert/strict";
import * as audit from "../../cmd/audit.ts";
import * as policy from "../../cmd/policy.ts";
import * as relay from "../../cmd/relay.ts";
import type { Service } from "../../core/http/mod.ts";
import { AuditClient } from "../../core/ledger/client/mod.ts";
import { parseVkey } from "../../core/ledger/mod.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { loadAuditTrail } from "../../core/dashboard/mod.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";
import { openSse } from "../core/relay/relay_helpers.ts";
import { BASE_INTENT, type Expected, POLICY_CASES } from "./fixtures/igs_cases.ts";
import { igsSnapshot, runPublishIntent, startUpstreamApp } from "./fixtures/igs_upstream.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function postJson(url: string, body: unknown) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch { /* a 500 "Internal Server Error" is plain text upstream */ }
  return { status: res.status, json: json as Record<string, unknown> };
}

async function getJson(url: string) {
  const res = await fetch(url);
  return { status: res.status, json: await res.json() };
}

/** The three services on loopback port 0, defaults otherwise (compat upstream). */
async function startMesh(port = 0) {
  const dir = await tempDir("iatp-igs-");
  const opts = { log: silentLogger };
  const services: Service[] = [];
  try {
    services.push(await relay.start(relay.spec.resolve({ port, workers: 1 }), opts));
    services.push(await policy.start(policy.spec.resolve({ port: 0, reload_interval: 0 }), opts));
    services.push(await audit.start(audit.spec.resolve({ port: 0, db: `${dir.path}/a.db` }), opts));
  } catch (err) {
    for (const s of services) await s.close();
    await dir.remove();
    throw err;
  }
  const [r, p, a] = services;
  return {
    relay: r.url,
    policy: p.url,
    audit: a.url,
    async close() {
      for (const s of services) await s.close();
      await dir.remove();
    },
  };
}

Deno.test("relay: tests/relay/test_main.py and the IG&S relay's answers", async (t) => {
  const mesh = await startMesh();
  try {
    await t.step("test_publish_replays_history (:34)", async () => {
      const r = await postJson(`${mesh.relay}/publish`, {
        topic: "history",
        payload: { value: 1 },
      });
      assert.equal(r.status, 200, "apps/relay/main.py:29-52 answers 200");
      assert.equal(r.json.status, "ok");
      assert.match(String(r.json.event_id), UUID);
      const s = await openSse(mesh.relay, "topic=history");
      await s.until((e) => e.some((x) => x.event === "message"));
      const [m] = s.messages();
      assert.equal(m.event, "message");
      assert.equal(m.json.topic, "history");
      assert.deepEqual(m.json.payload, { value: 1 });
      assert.equal(m.json.id, r.json.event_id, "data.id is the event id (main.py:31-36)");
      assert.equal(typeof m.json.ts, "number", "ts is float seconds (time.time())");
      assert.ok(Math.abs(Number(m.json.ts) - Date.now() / 1000) < 600);
      await s.close();
    });
    await t.step("test_subscribe_receives_new_events (:56)", async () => {
      // Subscribed (registered before the response head is sent), then published.
      const s = await openSse(mesh.relay, "topic=live");
      assert.equal(s.status, 200);
      await postJson(`${mesh.relay}/publish`, { topic: "live", payload: { value: "fresh" } });
      await s.until((e) => e.some((x) => x.event === "message"));
      assert.deepEqual(s.messages()[0].json.payload, { value: "fresh" });
      await s.close();
    });
    await t.step("history keeps the last 50 per topic (main.py:15, 40-42)", async () => {
      for (let i = 0; i < 60; i++) {
        assert.equal(
          (await postJson(`${mesh.relay}/publish`, { topic: "cap", payload: { i } })).status,
          200,
        );
      }
      const s = await openSse(mesh.relay, "topic=cap");
      await s.until((e) => e.filter((x) => x.event === "message").length === 50);
      const got = s.messages().map((m) => (m.json.payload as { i: number }).i);
      assert.equal(got[0], 10);
      assert.equal(got.at(-1), 59);
      await s.close();
    });
    await t.step(
      "invalid publishes are 422 with detail (PublishPayload, main.py:24-26)",
      async () => {
        for (const body of [{ topic: "t" }, { topic: "t", payload: [1] }, { payload: {} }, []]) {
          const r = await postJson(`${mesh.relay}/publish`, body);
          assert.equal(r.status, 422, JSON.stringify(body));
          assert.ok(Array.isArray(r.json.detail));
        }
      },
    );
  } finally {
    await mesh.close();
  }
});

/** Checks one answer against the expected upstream answer. */
function checkDecision(
  name: string,
  r: { status: number; json: Record<string, unknown> },
  want: Expected,
) {
  if ("status" in want) {
    assert.equal(r.status, want.status, name);
    if (want.status === 422) assert.ok(Array.isArray(r.json.detail), `${name}: detail`);
    return;
  }
  assert.equal(r.status, 200, name);
  assert.equal(r.json.decision, want.decision, name);
  assert.equal(r.json.risk_after, want.risk_after, name);
  assert.deepEqual(r.json.obligations, want.decision === "allow" ? { timebox: 3600 } : {}, name);
  if (want.tx === "t1") assert.equal(r.json.tx_id, "t1", name);
  else assert.match(String(r.json.tx_id), UUID, name);
  assert.equal(typeof r.json.explanation, "string", `${name}: explanation is a string`);
  assert.equal(typeof r.json.ts, "number", `${name}: ts is float seconds`);
  assert.equal(typeof r.json.policy_ref, "string", name);
}

Deno.test("policy: 26 intents answered as apps/policy/main.py does (400 where it fails)", async () => {
  const mesh = await startMesh();
  try {
    for (const [name, body, want] of POLICY_CASES) {
      checkDecision(name, await postJson(`${mesh.policy}/evaluate`, body), want);
    }
  } finally {
    await mesh.close();
  }
});

Deno.test("audit: apps/audit/main.py's answers, with iatp's receipt beside them", async () => {
  const mesh = await startMesh();
  try {
    const event = { tx_id: "tx-1", event: "policy.decision", actor: "policy", payload: { a: 1 } };
    const r = await postJson(`${mesh.audit}/audit`, event);
    assert.equal(r.status, 200);
    assert.equal(typeof r.json.acl_txn, "string");
    assert.equal(typeof (r.json.proof as { hash: unknown }).hash, "string");
    assert.equal(typeof r.json.ts, "number");
    assert.ok(r.json.receipt && r.json.leaf_hash, "iatp's receipt beside");
    const refused: unknown[] = [
      { tx_id: "x", event: "e", actor: "a" },
      { tx_id: "x", event: "e", actor: "a", payload: [1] },
      { tx_id: 5, event: "e", actor: "a", payload: {} },
      { tx_id: "x", event: "e", payload: {} },
    ];
    for (const body of refused) {
      const bad = await postJson(`${mesh.audit}/audit`, body);
      assert.equal(bad.status, 422, JSON.stringify(body));
      assert.ok(Array.isArray(bad.json.detail));
    }
    const empty = await postJson(`${mesh.audit}/audit`, {
      tx_id: "",
      event: "",
      actor: "",
      payload: {},
    });
    assert.equal(empty.status, 200, "empty strings are valid upstream");
    const list = await getJson(`${mesh.audit}/tx/tx-1`);
    assert.ok(Array.isArray(list.json));
    assert.equal(list.json.length, 1);
    const [e] = list.json;
    for (const k of ["ledger_id", "tx_id", "event", "actor", "payload", "ts"]) assert.ok(k in e, k);
    assert.equal(typeof e.ts, "number");
    assert.deepEqual(e.payload, { a: 1 });
    assert.deepEqual((await getJson(`${mesh.audit}/tx/unknown`)).json, []);
  } finally {
    await mesh.close();
  }
});

Deno.test("the IG&S dashboard page's flow (apps/dashboard/main.py:27-36) end to end", async () => {
  const mesh = await startMesh();
  try {
    const s = await openSse(mesh.relay, "topic=access.intent");
    await postJson(`${mesh.relay}/publish`, { topic: "access.intent", payload: BASE_INTENT });
    await s.until((e) => e.some((x) => x.event === "message"));
    const e = s.messages()[0].json; // es.onmessage: JSON.parse(evt.data)
    const d = (await postJson(`${mesh.policy}/evaluate`, e.payload)).json;
    const a = await postJson(`${mesh.audit}/audit`, {
      tx_id: d.tx_id,
      event: "policy.decision",
      actor: "policy",
      payload: d,
    });
    assert.equal(a.status, 200);
    assert.equal(String(d.decision).toUpperCase(), "ALLOW");
    assert.equal(d.tx_id, "t1");
    await s.close();
  } finally {
    await mesh.close();
  }
});

Deno.test("iatp's own clients work against the compat upstream defaults", async () => {
  const mesh = await startMesh();
  const client = new RelayClient({ url: mesh.relay, log: silentLogger });
  const ledger = new AuditClient({ url: mesh.audit });
  try {
    const got: RelayEvent[] = [];
    const sub = client.subscribe(["own.*"], (e) => void got.push(e), { since: "0" });
    const sent = await client.publishNow("own.topic", { n: 1 });
    await waitFor(() => got.length === 1, 15_000);
    sub.close();
    assert.equal(got[0].event_id, sent.event_id);
    assert.match(got[0].id, /-1$/, "the resumable SSE id, not the data's uuid");
    assert.ok(!Number.isNaN(Date.parse(got[0].ts)) && got[0].ts.endsWith("Z"), "ISO ts");
    const receipt = await ledger.append({ tx_id: "own-1", event: "e", actor: "a", payload: {} });
    assert.equal(receipt.index, 0);
    // The ledger's key, pinned as an operator pins it (audit_public_key): only then "verified".
    const cp = await fetch(`${mesh.audit}/checkpoint`, { headers: { accept: "application/json" } });
    const { vkey } = await cp.json();
    const key = parseVkey(vkey);
    assert.ok(key, "the audit service serves its vkey");
    const unpinned = await loadAuditTrail(mesh.audit, "own-1", { timeoutMs: 5_000 });
    assert.ok(unpinned.state === "ok" && unpinned.entries[0].receipt === "unpinned");
    const trail = await loadAuditTrail(mesh.audit, "own-1", { timeoutMs: 5_000, key });
    assert.equal(trail.state, "ok");
    assert.ok(trail.state === "ok" && trail.entries[0].verified, "the list form verifies");
  } finally {
    await client.close();
    await ledger.close();
    await mesh.close();
  }
});

const snapshots = Deno.env.get("IATP_UPSTREAM_SNAPSHOTS");

// Opt-in: registered only when IATP_UPSTREAM_SNAPSHOTS names the upstream sources.
if (snapshots) {
  Deno.test({
    name: "upstream's own services answer the same cases; publish_intent.py runs against iatp",
    async fn(t) {
      const src = await igsSnapshot(snapshots);
      try {
        await t.step("apps/policy/main.py answers the 26 intents as the table says", async () => {
          const up = await startUpstreamApp(src.path, "policy");
          try {
            for (const [name, body, want] of POLICY_CASES) {
              const r = await postJson(`${up.url}/evaluate`, body);
              if ("status" in want) assert.equal(r.status, want.upstream, name);
              else checkDecision(name, r, want);
            }
          } finally {
            await up.close();
          }
        });
        await t.step("apps/audit/main.py answers the audit cases the same way", async () => {
          const up = await startUpstreamApp(src.path, "audit");
          try {
            const ok = await postJson(`${up.url}/audit`, {
              tx_id: "tx-1",
              event: "e",
              actor: "a",
              payload: {},
            });
            assert.equal(ok.status, 200);
            assert.deepEqual(Object.keys(ok.json).sort(), ["acl_txn", "proof", "ts"]);
            assert.equal(
              (await postJson(`${up.url}/audit`, { tx_id: "x", event: "e", actor: "a" })).status,
              422,
            );
            assert.ok(Array.isArray((await getJson(`${up.url}/tx/tx-1`)).json));
          } finally {
            await up.close();
          }
        });
        await t.step(
          "scripts/publish_intent.py, unchanged, publishes to iatp's relay on :8001",
          async () => {
            const mesh = await startMesh(8001);
            try {
              const s = await openSse(mesh.relay, "topic=access.intent");
              const out = await runPublishIntent(src.path);
              assert.equal(out.code, 0, out.stderr);
              assert.match(out.stdout, /^200 \{'status': 'ok', 'event_id': '[0-9a-f-]{36}'/);
              await s.until((e) => e.some((x) => x.event === "message"));
              const intent = s.messages()[0].json.payload as Record<string, unknown>;
              assert.deepEqual(intent.subject, BASE_INTENT.subject);
              const d = (await postJson(`${mesh.policy}/evaluate`, intent)).json;
              assert.equal(d.decision, "allow");
              assert.equal(d.tx_id, intent.tx_id);
              await s.close();
            } finally {
              await mesh.close();
            }
          },
        );
      } finally {
        await src.remove();
      }
    },
  });
}

Deno.test("POST /evaluate/ is a 307 to /evaluate and GET /health/ a 301, as FastAPI and Gin redirect them", async () => {
  const dir = await tempDir("iatp-igs-");
  /** A loopback port in 19000-19999 nothing listens on a moment ago. */
  const rangePort = (): string => {
    for (let i = 0; i < 200; i++) {
      const p = 19_000 + Math.floor(Math.random() * 1_000);
      try {
        Deno.listen({ hostname: "127.0.0.1", port: p }).close();
        return String(p);
      } catch { /* taken */ }
    }
    throw new Error("no free port in 19000-19999");
  };
  const svc = await startIatpService(["policy", "--port", rangePort()], {
    env: { IATP_DATA_DIR: dir.path },
  });
  try {
    const intent = JSON.stringify({
      subject: { enterprise: "A" },
      resource: { enterprise: "B", scope: "read" },
      context: { session_risk: 10 },
    });
    const init = { method: "POST", body: intent, headers: { "content-type": "application/json" } };
    const r = await fetch(`${svc.url}/evaluate/?x=1`, { ...init, redirect: "manual" });
    await r.body?.cancel();
    assert.equal(r.status, 307);
    assert.equal(r.headers.get("location"), "/evaluate?x=1");
    // A client that follows it (requests does) gets the decision.
    const followed = await fetch(`${svc.url}/evaluate/`, init);
    assert.equal(followed.status, 200);
    assert.equal((await followed.json()).decision, "allow");
    const get = await fetch(`${svc.url}/health/`, { redirect: "manual" });
    await get.body?.cancel();
    assert.equal(get.status, 301);
    const put = await fetch(`${svc.url}/evaluate/`, { method: "PUT", body: "{}" });
    await put.body?.cancel();
    assert.equal(put.status, 404, "no PUT route: no redirect");
    // The relay's and the audit service's routes alike.
    for (
      const [name, method, path, status, location] of [
        ["relay", "POST", "/publish/", 307, "/publish"],
        ["audit", "POST", "/audit/", 307, "/audit"],
        ["audit", "GET", "/tx/t-1/", 301, "/tx/t-1"],
      ] as const
    ) {
      const other = await startIatpService([name, "--port", rangePort()], {
        env: { IATP_DATA_DIR: dir.path },
      });
      try {
        const res = await fetch(`${other.url}${path}`, {
          method,
          body: method === "POST" ? "{}" : undefined,
          headers: { "content-type": "application/json" },
          redirect: "manual",
        });
        await res.body?.cancel();
        assert.equal(res.status, status, `${name} ${method} ${path}`);
        assert.equal(res.headers.get("location"), location);
      } finally {
        await other.stop();
      }
    }
  } finally {
    await svc.stop();
    await dir.remove();
  }
});
