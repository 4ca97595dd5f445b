import assert from "node:assert/strict";
import { command as relayCommand } from "../../cmd/relay.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { runIatp, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { startFakeDashboard } from "../support/fake_dashboard.ts";

const SNAPSHOT_KEYS = [
  "cpu_count",
  "cpu_usage_pct",
  "disk_total_bytes",
  "disk_used_bytes",
  "disk_used_pct",
  "load_average",
  "memory_total_bytes",
  "memory_used_bytes",
  "memory_used_pct",
  "timestamp_ms",
  "uptime_secs",
];

function assertSnapshot(s: Record<string, unknown>) {
  assert.deepEqual(Object.keys(s).sort(), SNAPSHOT_KEYS);
  for (const k of ["cpu_usage_pct", "memory_used_pct", "disk_used_pct"]) {
    const v = s[k] as number;
    assert.ok(v >= 0 && v <= 100, `${k}=${v}`);
  }
  assert.ok((s.memory_total_bytes as number) > 0);
  assert.ok((s.disk_total_bytes as number) > 0);
}

Deno.test("status serves metrics, capabilities, health and an SSE stream", async () => {
  const dir = await tempDir();
  const agent = await startIatpService(
    ["status", "--port", "0", "--metrics-interval-secs", "0.2"],
    { env: { IATP_DATA_DIR: dir.path } },
  );
  try {
    const snap = await (await fetch(`${agent.url}/api/v1/metrics`)).json();
    assertSnapshot(snap);
    assert.deepEqual(await (await fetch(`${agent.url}/capabilities`)).json(), {
      compose_agent: true,
      control_plane: "status_panel",
      version: JSON.parse(await Deno.readTextFile("deno.json")).version,
      features: ["metrics", "metrics_stream", "alerts", "docker_via_compose_agent"],
    });
    const health = await (await fetch(`${agent.url}/health`)).json();
    const counters = {
      status_panel_count: 0,
      compose_agent_count: 0,
      total_count: 0,
      last_control_plane: null,
      last_command_timestamp_ms: 0,
    };
    assert.equal(typeof health.token_age_seconds, "number");
    assert.deepEqual({ ...health, token_age_seconds: 0 }, {
      status: "ok",
      service: "status",
      ...counters,
      token_age_seconds: 0,
      last_refresh_ok: null,
      command_metrics: counters,
    });
    const prom = await (await fetch(`${agent.url}/metrics`)).text();
    assert.match(prom, /iatp_host_memory_total_bytes\{service="status"\} [1-9]/);
    // Upstream's clients ask /metrics for JSON: the snapshot, in its field names.
    const json = await (await fetch(`${agent.url}/metrics`, {
      headers: { accept: "application/json" },
    })).json();
    assertSnapshot(json);

    const res = await fetch(`${agent.url}/api/v1/metrics/stream`);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while ((text.match(/event: metrics/g) ?? []).length < 2) text += (await reader.read()).value;
    await reader.cancel();
    const first = JSON.parse(/data: (.*)\n/.exec(text)![1]);
    assertSnapshot(first);
    assert.doesNotMatch(agent.stdout(), /legacy mode/);
  } finally {
    await agent.stop();
    await dir.remove();
  }
});

Deno.test("status config errors name the key and exit 2", async () => {
  const r = await runIatp(["status", "--port", "0"], {
    env: { ALERT_CPU_WARNING: "90", ALERT_CPU_CRITICAL: "50" },
  });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /alert_cpu_warning \(env ALERT_CPU_WARNING\): expected at most/);
  const r2 = await runIatp(["status"], { env: { ALERT_DISK_WARNING: "101" } });
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /alert_disk_warning \(env ALERT_DISK_WARNING\)/);
  const r3 = await runIatp(["status"], { env: { DASHBOARD_URL: "http://127.0.0.1:1" } });
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /deployment_hash/);
});

Deno.test("status: an agent id no header can carry exits 2 naming it (it failed every poll)", async () => {
  for (
    // A space at either end is dropped from a header value on the way, so the id received is
    // not the one signed.
    const id of [
      "agent\r\nX-Evil: 1",
      "agent ",
      " agent",
      "agent\u202e",
      "ag\u00e9nt",
      "a".repeat(257),
    ]
  ) {
    const r = await runIatp(["status", "--port", "0"], {
      // A start that took the id runs until it is killed (its polls failing).
      timeoutMs: 20_000,
      env: {
        AGENT_ID: id,
        AGENT_TOKEN: "status-key-0123456789",
        DASHBOARD_URL: "http://127.0.0.1:1",
        DEPLOYMENT_HASH: "abc",
      },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /config error: agent_id \(env AGENT_ID\): expected an id of visible ASCII characters/,
    );
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

Deno.test("status: an agent id with a space inside is taken, sent and signed as spelled", async () => {
  const dir = await tempDir();
  const key = "status-key-0123456789";
  const dash = startFakeDashboard({ token: key, deploymentHash: "abc" });
  const agent = await startIatpService(["status", "--port", "0"], {
    env: {
      IATP_DATA_DIR: dir.path,
      AGENT_ID: "web agent 1",
      AGENT_TOKEN: key,
      DASHBOARD_URL: dash.url,
      DEPLOYMENT_HASH: "abc",
      POLLING_TIMEOUT_SECS: "1",
      POLLING_BACKOFF_SECS: "0.2",
    },
  });
  try {
    const id = crypto.randomUUID();
    dash.enqueue({ command_id: id, type: "server_resources" });
    assert.equal((await dash.waitForReport(id)).status, "success");
    assert.deepEqual(dash.stats.rejected, {});
  } finally {
    await agent.stop();
    await dash.close();
    await dir.remove();
  }
});

Deno.test("status: a disk_path that does not exist exits 2 naming the setting", async () => {
  const dir = await tempDir();
  try {
    const r = await runIatp(["status", "--port", "0", "--disk-path", `${dir.path}/no-such`], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /disk_path \(flag --disk-path\): expected an existing path \(its filesystem is reported\), found .*\/no-such: no such file or folder/,
    );
    assert.doesNotMatch(r.stderr, /ENOENT|at .*\.ts:\d+/, "no runtime wording, no stack");
  } finally {
    await dir.remove();
  }
});

Deno.test("status: a proc_root without /proc-format files, or this host's /proc, exits 2 naming the setting", async () => {
  const dir = await tempDir();
  try {
    const cases: [string, RegExp][] = [
      [dir.path, /found .*: no stat in it$/m],
      [`${dir.path}/no-such`, /found .*\/no-such: no such folder$/m],
      [
        "/proc",
        /found \/proc: this host's own \/proc, which the agent reads only through the system APIs$/m,
      ],
    ];
    for (const [root, found] of cases) {
      const r = await runIatp(["status", "--port", "0", "--proc-root", root], {
        env: { IATP_DATA_DIR: dir.path },
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /proc_root \(flag --proc-root\): expected a folder of \/proc-format files/,
      );
      assert.match(r.stderr, found);
      assert.doesNotMatch(r.stderr, /os error|at .*\.ts:\d+/, "no runtime wording, no stack");
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("status: an HMAC key under 16 bytes (its own, or the compose-agent's) exits 2 naming it", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir.path}/compose.key`, "tiny-key\n", { mode: 0o600 });
    const env = { IATP_DATA_DIR: dir.path };
    const own = await runIatp(["status", "--port", "0"], {
      env: { ...env, AGENT_TOKEN: "short-key" },
    });
    assert.equal(own.code, 2, own.stderr);
    assert.match(
      own.stderr,
      /config error: agent_token \(env AGENT_TOKEN\): expected an HMAC key of at least 16 bytes .*found a key of 9 bytes/,
    );
    const compose = await runIatp(["status", "--port", "0"], {
      env: {
        ...env,
        AGENT_TOKEN: "status-key-0123456789",
        IATP_STATUS_COMPOSE_AGENT_TOKEN: `file:${dir.path}/compose.key`,
      },
    });
    assert.equal(compose.code, 2, compose.stderr);
    assert.match(
      compose.stderr,
      /config error: compose_agent\.token \(env IATP_STATUS_COMPOSE_AGENT_TOKEN\): expected an HMAC key of at least 16 bytes .*found a key of 8 bytes/,
    );
    assert.ok(!(own.stderr + compose.stderr).match(/short-key|tiny-key/), "keys never printed");
  } finally {
    await dir.remove();
  }
});

Deno.test("status publishes metrics and de-duplicated threshold alerts to the relay", async () => {
  const relay = await relayCommand.start(relayCommand.resolve({ port: 0, workers: 1 }), {
    log: silentLogger,
  });
  const client = new RelayClient({ url: relay.url, log: silentLogger });
  const events: RelayEvent[] = [];
  const sub = client.subscribe(["status.*"], (e) => void events.push(e));
  const dir = await tempDir();
  const agent = await startIatpService(["status", "--port", "0"], {
    env: {
      IATP_DATA_DIR: dir.path,
      IATP_STATUS_RELAY_URL: relay.url,
      METRICS_INTERVAL_SECS: "0.2",
      AGENT_ID: "status-7",
      // Memory is surely above 1 %, disk above 0.5 % and below 99.9 %.
      ALERT_MEMORY_WARNING: "0.5",
      ALERT_MEMORY_CRITICAL: "1",
      ALERT_DISK_WARNING: "0.5",
      ALERT_DISK_CRITICAL: "99.9",
    },
  });
  try {
    const metrics = () => events.filter((e) => e.topic === "status.metrics");
    await waitFor(() => metrics().length >= 5, 30_000, "five status.metrics events");
    const m = metrics()[0].payload;
    assert.equal(m.agent_id, "status-7");
    assertSnapshot(
      Object.fromEntries(Object.entries(m).filter(([k]) => SNAPSHOT_KEYS.includes(k))),
    );
    const alerts = events.filter((e) => e.topic === "status.alerts").map((e) => e.payload);
    const mem = alerts.filter((a) => a.metric === "memory");
    assert.equal(mem.length, 1, "one alert per level change, not one per sample");
    assert.deepEqual([mem[0].kind, mem[0].level, mem[0].threshold_pct], ["firing", "critical", 1]);
    const disk = alerts.filter((a) => a.metric === "disk");
    assert.deepEqual(disk.map((a) => a.level), ["warning"]);
  } finally {
    await agent.stop();
    sub.close();
    await client.close();
    await relay.close();
    await dir.remove();
  }
});

/** A fake Vault KV v2 that serves one secret per path. */
function fakeVault(secrets: Record<string, string>) {
  const served = { ...secrets };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (req.headers.get("x-vault-token") !== "root-vault-token") {
      return Response.json({ errors: ["permission denied"] }, { status: 403 });
    }
    const token = served[new URL(req.url).pathname];
    if (token === undefined) return Response.json({ errors: [] }, { status: 404 });
    return Response.json({ data: { data: { token }, metadata: { version: 1 } } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    rotate: (path: string, t: string) => served[path] = t,
    close: () => server.shutdown(),
  };
}

const VAULT_HMAC = "/v1/secret/data/agents/dep-42/status_panel_token";
const VAULT_BEARER = "/v1/secret/data/agents/dep-42/status_panel_dashboard_token";

Deno.test("status dashboard link: signed long poll, local commands, forwarding, token rotation", async (t) => {
  const dir = await tempDir();
  const vault = fakeVault({
    [VAULT_HMAC]: "vault-served-token-1",
    [VAULT_BEARER]: "vault-dashboard-cred-1",
  });
  const dash = startFakeDashboard({
    token: "vault-served-token-1",
    bearer: "vault-dashboard-cred-1",
    deploymentHash: "dep-42",
  });
  const agent = await startIatpService(["status", "--port", "0"], {
    env: {
      IATP_DATA_DIR: dir.path,
      DASHBOARD_URL: dash.url,
      DEPLOYMENT_HASH: "dep-42",
      AGENT_ID: "status-42",
      AGENT_TOKEN: "stale-token-not-used",
      VAULT_ADDRESS: vault.url,
      VAULT_TOKEN: "root-vault-token",
      POLLING_TIMEOUT_SECS: "1",
      POLLING_BACKOFF_SECS: "0.2",
      // Nothing listens here: Docker commands must fail as "compose-agent unreachable", which
      // shows the agent forwards them instead of touching a socket itself.
      IATP_STATUS_COMPOSE_AGENT_URL: "http://127.0.0.1:9",
    },
  });
  try {
    await t.step("server_resources runs here and reports a snapshot", async () => {
      dash.enqueue({ command_id: "cmd-1", type: "server_resources" });
      const r = await dash.waitForReport("cmd-1");
      assert.deepEqual([r.status, r.executed_by, r.deployment_hash], [
        "success",
        "status_panel",
        "dep-42",
      ]);
      assertSnapshot(r.result as Record<string, unknown>);
    });
    await t.step("Docker commands go to the compose-agent", async () => {
      dash.enqueue({ command_id: "cmd-2", type: "list_containers" });
      const r = await dash.waitForReport("cmd-2");
      assert.deepEqual([r.status, r.executed_by, r.error], [
        "failed",
        "compose_agent",
        "compose-agent unreachable",
      ]);
    });
    await t.step("unknown command types are reported failed", async () => {
      dash.enqueue({ command_id: "cmd-3", type: "format_disk" });
      const r = await dash.waitForReport("cmd-3");
      assert.deepEqual([r.status, r.error], ["failed", "unsupported command type format_disk"]);
    });
    await t.step("health counts commands by control plane", async () => {
      const h = await (await fetch(`${agent.url}/health`)).json();
      assert.deepEqual(
        [h.status_panel_count, h.compose_agent_count, h.total_count, h.last_control_plane],
        [2, 1, 3, "status_panel"],
      );
      assert.ok(h.last_command_timestamp_ms > 0);
    });
    await t.step("a rotated HMAC key is re-read from Vault after a 401", async () => {
      vault.rotate(VAULT_HMAC, "vault-served-token-2");
      dash.setToken("vault-served-token-2");
      dash.enqueue({ command_id: "cmd-4", type: "server_resources" });
      const r = await dash.waitForReport("cmd-4", 60_000);
      assert.equal(r.status, "success");
      assert.ok((dash.stats.rejected.bad_signature ?? 0) >= 1, JSON.stringify(dash.stats));
    });
    await t.step("a rotated dashboard token is re-read from its own Vault key", async () => {
      vault.rotate(VAULT_BEARER, "vault-dashboard-cred-2");
      dash.setBearer("vault-dashboard-cred-2");
      dash.enqueue({ command_id: "cmd-5", type: "server_resources" });
      const r = await dash.waitForReport("cmd-5", 60_000);
      assert.equal(r.status, "success");
      assert.ok((dash.stats.rejected.bad_bearer ?? 0) >= 1, JSON.stringify(dash.stats));
    });
    await t.step("the HMAC key never travels: only the dashboard tokens were sent", () => {
      assert.deepEqual([...dash.authorizations].sort(), [
        "Bearer vault-dashboard-cred-1",
        "Bearer vault-dashboard-cred-2",
      ]);
    });
    assert.doesNotMatch(
      agent.stdout(),
      /vault-served-token|vault-dashboard-cred|root-vault-token/,
      "tokens never logged",
    );
  } finally {
    await agent.stop();
    await dash.close();
    await vault.close();
    await dir.remove();
  }
});

Deno.test("status sends its dashboard token, never its HMAC key; with none, no Authorization", async (t) => {
  const dir = await tempDir();
  const key = "status-hmac-key-never-sent-0001";
  const env = (extra: Record<string, string>) => ({
    IATP_DATA_DIR: dir.path,
    DASHBOARD_URL: "",
    DEPLOYMENT_HASH: "dep-7",
    AGENT_ID: "status-7",
    AGENT_TOKEN: key,
    POLLING_TIMEOUT_SECS: "1",
    POLLING_BACKOFF_SECS: "0.2",
    ...extra,
  });
  const run = async (
    dash: ReturnType<typeof startFakeDashboard>,
    extra: Record<string, string>,
  ) => {
    const agent = await startIatpService(["status", "--port", "0"], {
      env: env({ ...extra, DASHBOARD_URL: dash.url }),
    });
    try {
      const id = crypto.randomUUID();
      dash.enqueue({ command_id: id, type: "server_resources" });
      assert.equal((await dash.waitForReport(id)).status, "success");
      assert.doesNotMatch(agent.stdout(), new RegExp(key), "HMAC key never logged");
    } finally {
      await agent.stop();
    }
  };
  try {
    await t.step("no dashboard token: signature only, no Authorization header", async () => {
      const dash = startFakeDashboard({ token: key, deploymentHash: "dep-7" });
      try {
        await run(dash, {});
        assert.deepEqual([...dash.authorizations], []);
        assert.deepEqual(dash.stats.rejected, {});
      } finally {
        await dash.close();
      }
    });
    await t.step("dashboard_token from file:PATH is the only bearer sent", async () => {
      const cred = "dashboard-cred-from-a-file-0001";
      await Deno.writeTextFile(`${dir.path}/dashboard.token`, `${cred}\n`, { mode: 0o600 });
      const dash = startFakeDashboard({ token: key, bearer: cred, deploymentHash: "dep-7" });
      try {
        await run(dash, { IATP_STATUS_DASHBOARD_TOKEN: `file:${dir.path}/dashboard.token` });
        assert.deepEqual([...dash.authorizations], [`Bearer ${cred}`]);
      } finally {
        await dash.close();
      }
    });
    await t.step("a dashboard token equal to the HMAC key is refused: exit 2", async () => {
      const r = await runIatp(["status", "--port", "0"], {
        env: env({ IATP_STATUS_DASHBOARD_TOKEN: key }),
      });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /dashboard_token \(env IATP_STATUS_DASHBOARD_TOKEN\): expected a/);
      assert.doesNotMatch(r.stderr + r.stdout, new RegExp(key));
    });
    await t.step("an unreadable dashboard token file is a config error naming it", async () => {
      const r = await runIatp(["status", "--port", "0"], {
        env: env({ IATP_STATUS_DASHBOARD_TOKEN: `file:${dir.path}/missing.token` }),
      });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /dashboard_token .*no such file/);
    });
  } finally {
    await dir.remove();
  }
});

Deno.test("max_stream_clients holds for metrics streams that arrive together", async () => {
  const dir = await tempDir();
  const agent = await startIatpService(
    ["status", "--port", "0", "--max-stream-clients", "2"],
    { env: { IATP_DATA_DIR: dir.path } },
  );
  const port = Number(new URL(agent.url).port);
  const conns: Deno.TcpConn[] = [];
  try {
    // Six requests on six connections, all written before any answer is read: the first ones
    // are still loading the stream's helper when the last ones are checked.
    for (let i = 0; i < 6; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    const request = new TextEncoder().encode(
      "GET /api/v1/metrics/stream HTTP/1.1\r\nhost: localhost\r\n\r\n",
    );
    await Promise.all(conns.map((c) => c.write(request)));
    const statusLine = async (c: Deno.TcpConn) => {
      const buf = new Uint8Array(64);
      let text = "";
      while (!text.includes("\r\n")) {
        const n = await c.read(buf);
        if (n === null) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      return text.split("\r\n")[0];
    };
    const lines = await Promise.all(conns.map(statusLine));
    assert.deepEqual(lines.filter((l) => l.includes(" 200 ")).length, 2, lines.join("; "));
    assert.deepEqual(lines.filter((l) => l.includes(" 503 ")).length, 4, lines.join("; "));
    // A stream that ends frees its place.
    for (const c of conns) c.close();
    conns.length = 0;
    await waitFor(
      async () => {
        const res = await fetch(`${agent.url}/api/v1/metrics/stream`);
        await res.body?.cancel();
        return res.status === 200;
      },
      10_000,
      "a freed stream place",
    );
  } finally {
    for (const c of conns) c.close();
    await agent.stop();
    await dir.remove();
  }
});
