// The status agent loads its command parser with the first dashboard command. When that load
// fails (the module unreadable, as after an install replaced under a running agent), the command
// it took from the dashboard is reported failed, not dropped, with a fixed sentence (the reason,
// which names a path on the host, stays in the agent's log). Likewise the SSE helper, the request
// signing and the credential verifier: what cannot be loaded fails its own requests, never serves
// a read unchecked, and /health names it.
import assert from "node:assert/strict";
import { listeningUrl, ROOT, spawnChild, tempDir, waitFor } from "../helpers.ts";
import { startFakeDashboard } from "../support/fake_dashboard.ts";
import { PARSER_UNAVAILABLE } from "../../core/hostagent/mod.ts";
import { generateIssuer } from "../../core/auth/mod.ts";

Deno.test("status: a command parser that cannot be loaded fails the taken command, reported", async () => {
  const dir = await tempDir();
  const token = "status-late-load-token-0123456789";
  const hash = "dep-late-1";
  const dashboard = startFakeDashboard({ token, deploymentHash: hash, maxHoldMs: 500 });
  const status = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", "--cached-only", "-A"],
    `--deny-read=${ROOT}core/docker/parse/mod.ts`,
    `${ROOT}cmd/status.ts`,
    ...["--port", "0"],
  ], {
    env: {
      IATP_DATA_DIR: dir.path,
      AGENT_ID: "late-agent",
      AGENT_TOKEN: token,
      DEPLOYMENT_HASH: hash,
      DASHBOARD_URL: dashboard.url,
      POLLING_TIMEOUT_SECS: "1",
      IATP_STATUS_COMPOSE_AGENT_URL: "http://127.0.0.1:9",
      IATP_STATUS_COMPOSE_AGENT_TOKEN: token,
    },
  });
  try {
    await waitFor(() => listeningUrl(status.stdout()) !== undefined, 30_000, "listening")
      .catch((err) => {
        throw new Error(status.stdout() + status.stderr(), { cause: err });
      });
    dashboard.enqueue({ command_id: "late-1", type: "health", parameters: {} });
    const report = await dashboard.waitForReport("late-1", 20_000).catch((err) => {
      throw new Error(status.stdout().slice(-3000), { cause: err });
    });
    assert.equal(report.status, "failed");
    // A fixed sentence to the dashboard: no path of this host, no runtime wording or colour codes.
    assert.equal(report.error, PARSER_UNAVAILABLE);
    assert.doesNotMatch(JSON.stringify(report), /file:|\/core\/|\\u001b|Requires read/);
    // The reason is in the agent's own log.
    await waitFor(
      () => /dashboard command not run.*Requires read access/.test(status.stdout()),
      10_000,
      "logged reason",
    );
  } finally {
    await status.stop("SIGTERM");
    await dashboard.close();
    await dir.remove();
  }
});

Deno.test("status: an SSE helper that cannot be loaded answers the stream a JSON 503 and leaves the other routes serving, /health degraded", async () => {
  const dir = await tempDir();
  const status = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", "--cached-only", "-A"],
    `--deny-read=${ROOT}core/hostagent/streaming.ts`,
    `${ROOT}cmd/status.ts`,
    ...["--port", "0"],
  ], {
    env: {
      IATP_DATA_DIR: dir.path,
      AGENT_ID: "late-stream-agent",
      AGENT_TOKEN: "status-late-stream-token-0123456789",
    },
  });
  try {
    let url: string | undefined;
    await waitFor(() => (url = listeningUrl(status.stdout())) !== undefined, 30_000, "listening")
      .catch((err) => {
        throw new Error(status.stdout() + status.stderr(), { cause: err });
      });
    // The first request the app serves is the stream: its helper cannot be loaded.
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${url}/api/v1/metrics/stream`);
      const body = await r.json();
      assert.equal(r.status, 503, JSON.stringify(body));
      assert.equal(body.error, "the metrics stream could not be loaded");
      assert.ok(body.request_id, "the JSON envelope");
    }
    // The snapshot and the capabilities need no streaming: they still answer.
    for (const path of ["/api/v1/metrics", "/capabilities"]) {
      const r = await fetch(`${url}${path}`);
      const text = await r.text();
      assert.equal(r.status, 200, `${path}: ${text}`);
    }
    const health = await (await fetch(`${url}/health`)).json();
    assert.equal(health.status, "degraded");
    assert.equal(health.reason, "metrics_stream: the metrics stream could not be loaded");
    assert.equal(health.service, "status");
  } finally {
    await status.stop("SIGTERM");
    await dir.remove();
  }
});

Deno.test("status: request signing (core/auth) that cannot be loaded sends nothing unsigned, loses no command, and /health says so", async () => {
  const dir = await tempDir();
  const token = "status-late-auth-token-0123456789";
  const hash = "dep-late-auth";
  const dashboard = startFakeDashboard({ token, deploymentHash: hash, maxHoldMs: 500 });
  const status = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", "--cached-only", "-A"],
    `--deny-read=${ROOT}core/auth/mod.ts`,
    `${ROOT}cmd/status.ts`,
    ...["--port", "0"],
  ], {
    env: {
      IATP_DATA_DIR: dir.path,
      AGENT_ID: "late-auth-agent",
      AGENT_TOKEN: token,
      DEPLOYMENT_HASH: hash,
      DASHBOARD_URL: dashboard.url,
      POLLING_TIMEOUT_SECS: "1",
      POLLING_BACKOFF_SECS: "0.2",
    },
  });
  try {
    let url: string | undefined;
    await waitFor(() => (url = listeningUrl(status.stdout())) !== undefined, 30_000, "listening")
      .catch((err) => {
        throw new Error(status.stdout() + status.stderr(), { cause: err });
      });
    dashboard.enqueue({ command_id: "late-auth-1", type: "server_resources" });
    // The agent tries to poll (and fails before sending: it cannot sign).
    await waitFor(() => /dashboard poll failed/.test(status.stdout()), 20_000, "a failed poll");
    const health = await (await fetch(`${url}/health`)).json();
    assert.equal(health.status, "degraded", JSON.stringify(health));
    assert.equal(health.reason, "signing: the request signing could not be loaded");
    assert.equal(health.service, "status");
    // Nothing reached the dashboard unsigned, and the command was not taken (nor lost).
    assert.equal(dashboard.stats.polls, 0);
    assert.deepEqual(dashboard.stats.rejected, {});
    assert.equal(dashboard.reports.length, 0);
  } finally {
    await status.stop("SIGTERM");
    await dashboard.close();
    await dir.remove();
  }
});

Deno.test("status: a credential verifier that cannot be loaded serves no read unchecked (JSON 503), /health degraded; with auth off it is never loaded", async () => {
  const dir = await tempDir();
  const issuer = await generateIssuer();
  const agentFor = (args: string[]) =>
    spawnChild(Deno.execPath(), [
      ...["run", "--quiet", "--no-prompt", "--cached-only", "-A"],
      `--deny-read=${ROOT}core/auth/mod.ts`,
      `${ROOT}cmd/status.ts`,
      ...["--port", "0", ...args],
    ], { env: { IATP_DATA_DIR: dir.path, AGENT_ID: "late-check-agent" } });
  const reads: Array<[string, Record<string, string>]> = [
    ["/api/v1/metrics", {}],
    ["/api/v1/metrics/stream", {}],
    ["/capabilities", {}],
    ["/metrics", { accept: "application/json" }],
  ];
  // With keys: every read is refused with a 503 while the check cannot be loaded.
  const locked = agentFor(["--auth-keys", issuer.publicKey]);
  try {
    let url: string | undefined;
    await waitFor(() => (url = listeningUrl(locked.stdout())) !== undefined, 30_000, "listening")
      .catch((err) => {
        throw new Error(locked.stdout() + locked.stderr(), { cause: err });
      });
    for (const [path, headers] of [...reads, ...reads]) {
      const r = await fetch(`${url}${path}`, { headers });
      const body = await r.json();
      assert.equal(r.status, 503, `${path}: ${JSON.stringify(body)}`);
      assert.equal(body.error, "the credential check could not be loaded");
      assert.ok(body.request_id, "the JSON envelope");
      assert.doesNotMatch(JSON.stringify(body), /cpu|memory|file:|\/core\//);
    }
    // The Prometheus text holds the same host figures: it is refused the same way.
    const prom = await fetch(`${url}/metrics`);
    assert.equal(prom.status, 503, "the Prometheus text is a read like the others");
    assert.doesNotMatch(await prom.text(), /iatp_host_/);
    const health = await (await fetch(`${url}/health`)).json();
    assert.equal(health.status, "degraded");
    assert.deepEqual(health.components.credential_check, {
      ok: false,
      reason: "the credential check could not be loaded",
    });
    // Logged once, with the reason.
    assert.equal(
      locked.stdout().split("\n").filter((l) => l.includes('"the credential check could not'))
        .length,
      1,
    );
  } finally {
    await locked.stop("SIGTERM");
  }
  // Without keys (loopback): the reads answer, and nothing loads the verifier.
  const open = agentFor([]);
  try {
    let url: string | undefined;
    await waitFor(() => (url = listeningUrl(open.stdout())) !== undefined, 30_000, "listening")
      .catch((err) => {
        throw new Error(open.stdout() + open.stderr(), { cause: err });
      });
    for (const [path, headers] of reads) {
      const r = await fetch(`${url}${path}`, { headers });
      assert.equal(r.status, 200, path);
      await r.body?.cancel();
    }
    const health = await (await fetch(`${url}/health`)).json();
    assert.equal(health.status, "ok", JSON.stringify(health));
  } finally {
    await open.stop("SIGTERM");
    await dir.remove();
  }
});
