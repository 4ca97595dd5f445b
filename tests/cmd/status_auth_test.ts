/**
 * The status agent's protected mode and read scope, over real processes (scripts/iatp): beyond
 * loopback with no keys it refuses to start naming `auth_keys` unless `--insecure` (which warns);
 * with `auth_keys` every read (the snapshot, the stream, the capabilities and the JSON snapshot
 * and the Prometheus text at `/metrics`) needs `status:read`, while `/health` and `/ready` stay open.
 * On loopback with no keys it stays open (status_test.ts reads every route without a credential).
 * Its dashboard link is secure by default too: a plain-HTTP dashboard_url beyond loopback is
 * refused naming `dashboard_url` unless `dashboard_insecure_http` (which warns).
 */
import assert from "node:assert/strict";
import { generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { runIatp, startIatpService, tempDir } from "../helpers.ts";
import { startFakeDashboard } from "../support/fake_dashboard.ts";

/** Every read route, and the headers its request needs besides a credential. */
const READS: Array<{ path: string; headers: Record<string, string>; type: RegExp }> = [
  { path: "/api/v1/metrics", headers: {}, type: /^application\/json/ },
  { path: "/api/v1/metrics/stream", headers: {}, type: /^text\/event-stream/ },
  { path: "/capabilities", headers: {}, type: /^application\/json/ },
  { path: "/metrics", headers: { accept: "application/json" }, type: /^application\/json/ },
];

/** The `listening` line's fields. */
function listening(stdout: string): Record<string, unknown> | undefined {
  for (const line of stdout.split("\n")) {
    try {
      const rec = JSON.parse(line);
      if (rec.msg === "listening") return rec.fields;
    } catch { /* not a log line */ }
  }
  return undefined;
}

Deno.test("status beyond loopback without keys exits 2 naming auth_keys; --insecure starts open and warns", async () => {
  const dir = await tempDir();
  try {
    const env = { IATP_DATA_DIR: dir.path };
    for (
      const [args, extra] of [
        [["--host", "0.0.0.0"], {}],
        [[], { STATUS_PANEL_BIND: "0.0.0.0" }],
      ] as const
    ) {
      const r = await runIatp(["status", "--port", "0", ...args], { env: { ...env, ...extra } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /config error: auth_keys .*listening on 0\.0\.0\.0 \(host, (flag --host|env STATUS_PANEL_BIND)\), beyond loopback/,
      );
      assert.match(r.stderr, /--insecure/);
      assert.doesNotMatch(r.stdout, /"listening"/);
    }
    const agent = await startIatpService(
      ["status", "--host", "0.0.0.0", "--port", "0", "--insecure"],
      { env },
    );
    try {
      assert.match(agent.stdout(), /"level":"warn","msg":"insecure: listening beyond loopback/);
      const port = new URL(agent.url).port;
      assert.deepEqual(listening(agent.stdout()), {
        url: `http://127.0.0.1:${port}`,
        address: `0.0.0.0:${port}`,
      });
      for (const r of READS) {
        const res = await fetch(`${agent.url}${r.path}`, { headers: r.headers });
        assert.equal(res.status, 200, r.path);
        assert.match(res.headers.get("content-type") ?? "", r.type, r.path);
        await res.body?.cancel();
      }
    } finally {
      await agent.stop();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("status refuses a plain-HTTP dashboard_url beyond loopback (exit 2 naming it) unless dashboard_insecure_http, which warns", async () => {
  const dir = await tempDir();
  const hash = "dep-plain";
  const dash = startFakeDashboard({
    token: "plain-http-hmac-key-0123456789",
    deploymentHash: hash,
  });
  const env = {
    IATP_DATA_DIR: dir.path,
    DEPLOYMENT_HASH: hash,
    AGENT_ID: "status-plain",
    AGENT_TOKEN: "plain-http-hmac-key-0123456789",
    POLLING_TIMEOUT_SECS: "1",
    POLLING_BACKOFF_SECS: "0.2",
  };
  // 0.0.0.0 is not a loopback address by name, so it is refused as any other host; yet Linux
  // connects to this host through it: the opted-in agent reaches the test's dashboard without
  // any packet leaving the host. 192.0.2.0/24 is never routed (TEST-NET-1).
  const port = new URL(dash.url).port;
  const plain = `http://0.0.0.0:${port}`;
  try {
    for (
      const [args, extra, from] of [
        [[], { DASHBOARD_URL: "http://192.0.2.10:8000" }, "env DASHBOARD_URL"],
        [
          ["--dashboard-url", "http://user:pw@dashboard.example:8000/x?k=v"],
          {},
          "flag --dashboard-url",
        ],
        [[], { DASHBOARD_URL: plain }, "env DASHBOARD_URL"],
      ] as const
    ) {
      const r = await runIatp(["status", "--port", "0", ...args], { env: { ...env, ...extra } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `config error: dashboard_url \\(${from}\\): expected an https:// URL, or http:// only on loopback`,
        ),
      );
      assert.match(r.stderr, /--dashboard-insecure-http/);
      assert.doesNotMatch(r.stderr, /pw|\/x|k=v/);
      assert.doesNotMatch(r.stdout, /"listening"/);
    }
    assert.equal(dash.stats.polls, 0);
    // https:// beyond loopback and http:// on loopback load (`config show` starts nothing).
    for (const url of ["https://192.0.2.10:8443", "http://localhost:1", "http://[::1]:1"]) {
      const r = await runIatp(["config", "show", "status"], {
        env: { ...env, DASHBOARD_URL: url },
      });
      assert.equal(r.code, 0, r.stderr);
    }
    const agent = await startIatpService(["status", "--port", "0"], {
      env: { ...env, DASHBOARD_URL: plain, IATP_STATUS_DASHBOARD_INSECURE_HTTP: "true" },
    });
    try {
      assert.match(
        agent.stdout(),
        /"level":"warn","msg":"dashboard_insecure_http: the dashboard is polled over plain HTTP beyond loopback/,
      );
      dash.enqueue({ command_id: "plain-1", type: "server_resources" });
      assert.equal((await dash.waitForReport("plain-1")).status, "success");
    } finally {
      await agent.stop();
    }
  } finally {
    await dash.close();
    await dir.remove();
  }
});

Deno.test("status with auth_keys: every read needs status:read (401 JSON, 403, 200), the Prometheus text included; health and ready stay open", async () => {
  const dir = await tempDir();
  const issuer = await generateIssuer();
  const stranger = await generateIssuer();
  // `iatp token` knows the scope: the reader's credential is issued with it.
  await Deno.writeTextFile(`${dir.path}/issuer.key`, `${issuer.seedBase64}\n`, { mode: 0o600 });
  const issued = await runIatp([
    ...["token", "issue", "--key", `${dir.path}/issuer.key`, "--sub", "reader"],
    ...["--scope", "status:read"],
  ], { env: { IATP_DATA_DIR: dir.path } });
  assert.equal(issued.code, 0, issued.stderr);
  const reader = issued.stdout.trim();
  const all = await issueCredential(issuer, { sub: "ops", scopes: ["status:*"] });
  const tracer = await issueCredential(issuer, { sub: "tracer", scopes: ["trace:read"] });
  const forged = await issueCredential(stranger, { sub: "intruder", scopes: ["*"] });
  await Deno.writeTextFile(`${dir.path}/issuer.pub`, `${issuer.publicKey}\n`);
  const agent = await startIatpService(
    [
      ...["status", "--host", "0.0.0.0", "--port", "0", "--metrics-interval-secs", "0.2"],
      ...["--auth-keys", `file:${dir.path}/issuer.pub`],
    ],
    { env: { IATP_DATA_DIR: dir.path } },
  );
  try {
    assert.doesNotMatch(agent.stdout(), /insecure/);
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    for (const r of READS) {
      for (const [what, auth] of [["none", {}], ["another issuer's", bearer(forged)]] as const) {
        const res = await fetch(`${agent.url}${r.path}`, { headers: { ...r.headers, ...auth } });
        assert.equal(res.status, 401, `${r.path}: ${what}`);
        assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
        assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="iatp"', r.path);
        const body = await res.json();
        assert.equal(body.reason, "unauthenticated", r.path);
        assert.equal(typeof body.request_id, "string");
        // Nothing of the snapshot past the check.
        assert.doesNotMatch(JSON.stringify(body), /cpu|memory|disk|compose_agent/, r.path);
      }
      const denied = await fetch(`${agent.url}${r.path}`, {
        headers: { ...r.headers, ...bearer(tracer) },
      });
      assert.equal(denied.status, 403, r.path);
      const body = await denied.json();
      assert.equal(body.required, "status:read", r.path);
      assert.match(body.error, /status:read/);
      for (const token of [reader, all]) {
        const ok = await fetch(`${agent.url}${r.path}`, {
          headers: { ...r.headers, ...bearer(token) },
        });
        assert.equal(ok.status, 200, r.path);
        assert.match(ok.headers.get("content-type") ?? "", r.type, r.path);
        if (r.path.endsWith("/stream")) {
          const reader = ok.body!.pipeThrough(new TextDecoderStream()).getReader();
          let text = "";
          while (!text.includes("event: metrics")) text += (await reader.read()).value;
          await reader.cancel();
        } else {
          const json = await ok.json();
          assert.ok("cpu_usage_pct" in json || "control_plane" in json, r.path);
        }
      }
    }
    // Probes need no credential, as on every service.
    for (const path of ["/health", "/ready"]) {
      const res = await fetch(`${agent.url}${path}`);
      assert.equal(res.status, 200, path);
      await res.body?.cancel();
    }
    // The Prometheus text holds the same host figures (iatp_host_*): a scraper needs the scope.
    const promNone = await fetch(`${agent.url}/metrics`);
    assert.equal(promNone.status, 401);
    assert.doesNotMatch(await promNone.text(), /iatp_host_/);
    const promTracer = await fetch(`${agent.url}/metrics`, {
      headers: { authorization: `Bearer ${tracer}` },
    });
    assert.equal(promTracer.status, 403);
    await promTracer.body?.cancel();
    const prom = await fetch(`${agent.url}/metrics`, {
      headers: { authorization: `Bearer ${reader}` },
    });
    assert.equal(prom.status, 200);
    assert.match(await prom.text(), /iatp_host_memory_total_bytes\{service="status"\}/);
    // No credential reaches the log.
    for (const token of [reader, all, tracer, forged]) {
      assert.ok(!agent.stdout().includes(token), "a credential in the log");
    }
  } finally {
    await agent.stop();
    await dir.remove();
  }
});
