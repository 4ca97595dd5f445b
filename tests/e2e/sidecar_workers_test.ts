/**
 * `iatp sidecar --workers 2` as a real process: requests on fresh connections land on both
 * isolates (per-isolate counters in /metrics), a trace is found from any connection whichever
 * isolate served it, every block, scrub and bound still applies on every isolate, /metrics adds
 * up both, SIGTERM drains; bad `workers` values exit 2 naming the setting.
 * @module
 */
import assert from "node:assert/strict";
import { runIatp, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { exchange, header, json, type RawResponse } from "../support/raw_http.ts";

const SSN = "123-45-6789";
const CARD = "4111 1111 1111 1111";

/** A POST /proxy on a fresh connection (the kernel picks the isolate per connection). */
async function post(port: number, body: string, extra = ""): Promise<RawResponse> {
  const bytes = new TextEncoder().encode(body).length;
  const req = `POST /proxy HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n` +
    `content-type: application/json\r\ncontent-length: ${bytes}\r\n${extra}\r\n${body}`;
  const r = await exchange(port, req);
  if (!r) throw new Error("no response");
  return r;
}

async function get(port: number, path: string): Promise<RawResponse> {
  const r = await exchange(
    port,
    `GET ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n`,
  );
  if (!r) throw new Error("no response");
  return r;
}

/** `iatp_worker_http_requests_total` per isolate, from /metrics. */
function perWorker(metrics: string): Map<string, number> {
  const out = new Map<string, number>();
  for (
    const m of metrics.matchAll(/^iatp_worker_http_requests_total\{[^}]*worker="(\d+)"\} (\d+)/gm)
  ) {
    out.set(m[1], Number(m[2]));
  }
  return out;
}

/** The summed value of one series of /metrics. */
function series(metrics: string, prefix: string): number {
  const line = metrics.split("\n").find((l) => l.startsWith(prefix));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

Deno.test("sidecar --workers 2: both isolates serve, traces and metrics are whole, checks hold", async () => {
  const agent = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.text();
    return Response.json({ ok: true });
  });
  const svc = await startIatpService([
    "sidecar",
    "--port=0",
    "--workers=2",
    "--max-body-bytes=4096",
    `--agent-url=http://127.0.0.1:${agent.addr.port}`,
  ]);
  try {
    await waitFor(() => svc.stdout().includes("sidecar workers serving"), 30_000, "workers");
    const port = Number(new URL(svc.url).port);

    // Allowed requests on fresh connections until both isolates have served some.
    const traces: string[] = [];
    await waitFor(
      async () => {
        for (let i = 0; i < 10; i++) {
          const id = `w-${traces.length}`;
          const r = await post(port, `{"n":${traces.length}}`, `x-agent-trace-id: ${id}\r\n`);
          assert.equal(r.status, 200);
          assert.equal(header(r, "x-agent-trace-id"), id);
          traces.push(id);
        }
        const counts = perWorker((await get(port, "/metrics")).body);
        return (counts.get("0") ?? 0) > 0 && (counts.get("1") ?? 0) > 0;
      },
      60_000,
      "requests on both isolates",
    );

    // Every trace is found, from fresh connections (so from either isolate), whole.
    for (const id of traces) {
      const r = await get(port, `/trace/${id}`);
      assert.equal(r.status, 200, `trace ${id}`);
      const types = (json(r).records as Array<{ type: string }>).map((x) => x.type);
      assert.deepEqual(types, ["request", "response"], `trace ${id}`);
    }
    assert.equal((await get(port, "/trace/never-sent")).status, 404);

    // The checks, on fresh connections (so on both isolates): an SSN in the body or in a
    // forwarded header blocks (403) and is scrubbed from the record; a card passes for this
    // agent and is scrubbed too; malformed JSON is 400; over the body limit is 413.
    for (let i = 0; i < 8; i++) {
      const ssn = await post(port, `{"ssn":"${SSN}"}`, `x-agent-trace-id: ssn-${i}\r\n`);
      assert.equal(ssn.status, 403);
      const inHeader = await post(port, `{"note":"ok"}`, `x-request-id: ${SSN}\r\n`);
      assert.equal(inHeader.status, 403);
      // A card is allowed for an agent that keeps data temporarily, and scrubbed from the record.
      const card = await post(port, `{"card":"${CARD}"}`, `x-agent-trace-id: card-${i}\r\n`);
      assert.equal(card.status, 200);
      assert.equal((await post(port, `{"a":`)).status, 400);
      assert.equal((await post(port, `{"big":"${"x".repeat(5000)}"}`)).status, 413);
      const rec = await get(port, `/trace/ssn-${i}`);
      assert.equal(rec.status, 200);
      assert(!rec.body.includes(SSN), "the SSN was recorded unscrubbed");
      assert.match(rec.body, /"blocked"/);
      const cardRec = await get(port, `/trace/card-${i}`);
      assert.equal(cardRec.status, 200);
      assert(!cardRec.body.includes(CARD), "the card was recorded unscrubbed");
      assert.match(cardRec.body, /"credit_card":true/);
    }

    // /metrics adds up every isolate: every request above is counted once.
    const metrics = (await get(port, "/metrics")).body;
    const route = 'iatp_http_requests_total{method="POST",route="/proxy/*",status=';
    assert.equal(series(metrics, `${route}"403"`), 16);
    assert.equal(series(metrics, `${route}"400"`), 8);
    assert.equal(series(metrics, `${route}"413"`), 8);
    assert.equal(series(metrics, `${route}"200"`), traces.length + 8);
    const counts = perWorker(metrics);
    assert.equal(counts.size, 2);
  } finally {
    const status = await svc.stop("SIGTERM");
    await agent.shutdown();
    assert.equal(status.code, 0, svc.stderr());
  }
  assert.match(svc.stdout(), /"msg":"stopped"/);
});

Deno.test("sidecar --workers 2 with a durable recorder: every isolate's records reach it, once", async () => {
  const dir = await tempDir();
  const agent = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.text();
    return Response.json({ ok: true });
  });
  const file = `${dir.path}/recorder.db`;
  const svc = await startIatpService([
    "sidecar",
    "--port=0",
    "--workers=2",
    // Two records per ring: most lookups below are answered by the durable store.
    "--trace-capacity=2",
    `--recorder-file=${file}`,
    `--agent-url=http://127.0.0.1:${agent.addr.port}`,
  ], { env: { IATP_DATA_DIR: dir.path } });
  try {
    await waitFor(() => svc.stdout().includes("sidecar workers serving"), 30_000, "workers");
    const port = Number(new URL(svc.url).port);
    const ids: string[] = [];
    await waitFor(
      async () => {
        for (let i = 0; i < 10; i++) {
          const id = `d-${ids.length}`;
          assert.equal(
            (await post(port, `{"n":${ids.length}}`, `x-agent-trace-id: ${id}\r\n`)).status,
            200,
          );
          ids.push(id);
        }
        const counts = perWorker((await get(port, "/metrics")).body);
        return (counts.get("0") ?? 0) > 0 && (counts.get("1") ?? 0) > 0;
      },
      60_000,
      "requests on both isolates",
    );
    for (const id of ids) {
      const r = await get(port, `/trace/${id}`);
      assert.equal(r.status, 200, `trace ${id}`);
      const types = (json(r).records as Array<{ type: string }>).map((x) => x.type);
      assert.deepEqual(types, ["request", "response"], `trace ${id}`);
    }
  } finally {
    const status = await svc.stop("SIGTERM");
    await agent.shutdown();
    assert.equal(status.code, 0, svc.stderr());
  }
  // After the drain, the file holds each request's two records exactly once.
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(file);
  try {
    const rows = db.prepare("SELECT COUNT(*) AS n FROM trace_records").get() as { n: number };
    assert.ok(rows.n >= 20, `rows: ${rows.n}`);
    const dup = db.prepare(
      "SELECT trace_id, type, COUNT(*) AS n FROM trace_records GROUP BY trace_id, type HAVING n > 1",
    ).all();
    assert.deepEqual(dup, []);
  } finally {
    db.close();
    await dir.remove();
  }
});

Deno.test("sidecar: a workers value outside 1..64 exits 2 naming the setting", async () => {
  for (const args of [["--workers=0"], ["--workers=65"], ["--workers=two"]]) {
    const r = await runIatp(["sidecar", ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /workers \(flag --workers\)/);
  }
  const env = await runIatp(["sidecar"], { env: { IATP_SIDECAR_WORKERS: "100" } });
  assert.equal(env.code, 2, env.stderr);
  assert.match(env.stderr, /workers \(env IATP_SIDECAR_WORKERS\)/);
});
