import assert from "node:assert/strict";
import { signRequest } from "../../core/auth/mod.ts";
import { ROOT, runIatp, spawnChild, startIatpService, tempDir, waitListening } from "../helpers.ts";
import { exchange, json } from "../support/raw_http.ts";
import {
  dockerCli,
  ensureBusyboxImage,
  ensureDockerd,
  removeContainers,
  runContainer,
  uniqueName,
} from "../support/dockerd.ts";

/** The test Docker daemon; tests that need it are ignored (never passed) without one. */
const dockerd = await ensureDockerd();

const KEY = "compose-agent-test-key-0123456789";

/** Sends a signed request; `tamper` may change what is sent after signing. */
async function signed(
  base: string,
  path: string,
  body: unknown,
  opts: {
    key?: string;
    agentId?: string;
    method?: string;
    ts?: number;
    sendPath?: string;
    headers?: Record<string, string>;
    rawBody?: string;
  } = {},
) {
  const method = opts.method ?? (body === undefined ? "GET" : "POST");
  const text = opts.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
  const h = opts.headers ?? await signRequest(opts.key ?? KEY, {
    agentId: opts.agentId ?? "status-panel",
    method,
    url: path,
    body: text,
    timestamp: opts.ts,
  });
  const res = await fetch(base + (opts.sendPath ?? path), {
    method,
    headers: { ...h, "content-type": "application/json" },
    body: text,
  });
  const raw = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(raw);
  } catch { /* 204 */ }
  return { status: res.status, json, headers: h, res };
}

function agentEnv(data: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    IATP_DATA_DIR: data,
    IATP_COMPOSE_AGENT_AGENT_ID: "compose-1",
    IATP_COMPOSE_AGENT_AGENT_TOKEN: KEY,
    AGENT_SCOPES: "docker:*,compose:*,commands:*",
    IATP_COMPOSE_AGENT_DEPLOYMENT_HASH: "dep-test",
    ...extra,
  };
}

Deno.test("compose-agent config errors name the key and exit 2", async () => {
  const dir = await tempDir();
  try {
    const r = await runIatp(["compose-agent", "--port", "0"], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /agent_token \(built-in default\): expected an HMAC key/);
    const bad = await runIatp(["compose-agent"], {
      env: {
        IATP_DATA_DIR: dir.path,
        IATP_COMPOSE_AGENT_AGENT_TOKEN: KEY,
        RATE_LIMIT_PER_MIN: "lots",
      },
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /rate_limit_per_min \(env RATE_LIMIT_PER_MIN\)/);
    assert.doesNotMatch(bad.stderr + bad.stdout, /at .*\.ts:\d+/, "no stack trace");
  } finally {
    await dir.remove();
  }
});

Deno.test("compose-agent: an HMAC key under 16 bytes (value, file or config file) exits 2 naming agent_token", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir.path}/short.key`, "fifteen-bytes!!\n", { mode: 0o600 });
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [
        [],
        { IATP_COMPOSE_AGENT_AGENT_TOKEN: "x" },
        /agent_token \(env IATP_COMPOSE_AGENT_AGENT_TOKEN\): expected an HMAC key of at least 16 bytes .*found a key of 1 byte$/m,
      ],
      [
        ["--agent-token", `file:${dir.path}/short.key`],
        {},
        /agent_token \(flag --agent-token\): expected an HMAC key of at least 16 bytes .*found a key of 15 bytes/,
      ],
    ];
    for (const [args, extra, want] of cases) {
      const r = await runIatp(["compose-agent", "--port", "0", ...args], {
        env: agentEnv(dir.path, extra),
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, want);
      assert.ok(!r.stderr.includes("fifteen-bytes"), "the key is never printed");
    }
    const file = `${dir.path}/agent.yaml`;
    await Deno.writeTextFile(file, "port: 0\nagent_token: short-key\n");
    const check = await runIatp(["config", "check", "compose-agent", file], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(check.code, 2, check.stderr);
    assert.match(check.stderr, /agent_token \(.*agent\.yaml:2\): .*found a key of 9 bytes/);
    assert.ok(!check.stderr.includes("short-key"));
  } finally {
    await dir.remove();
  }
});

Deno.test("compose-agent: a key under 16 bytes from Vault is logged and not used, as a missing one", async () => {
  const dir = await tempDir();
  const short = "vault-short-key";
  const vault = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/v1/secret/data/agents/dep-test/compose_agent_token" &&
        req.headers.get("x-vault-token") === "root-vault-token"
        ? Response.json({ data: { data: { token: short } } })
        : Response.json({ errors: [] }, { status: 404 }),
  );
  const env = agentEnv(dir.path, {
    IATP_COMPOSE_AGENT_VAULT_ADDRESS: `http://127.0.0.1:${vault.addr.port}`,
    IATP_COMPOSE_AGENT_VAULT_TOKEN: "root-vault-token",
    IATP_COMPOSE_AGENT_DOCKER_SOCKET: `${dir.path}/none.sock`,
  });
  delete env.IATP_COMPOSE_AGENT_AGENT_TOKEN;
  const agent = await startIatpService(["compose-agent", "--port", "0"], { env });
  try {
    const r = await signed(agent.url, "/api/v1/commands/execute", {
      command_id: "c-short",
      type: "health",
      parameters: {},
    }, { key: short });
    assert.equal(r.status, 401, JSON.stringify(r.json));
    const health = await (await fetch(`${agent.url}/health`)).json();
    assert.equal(health.last_refresh_ok, false);
    assert.deepEqual([health.status, health.agent_key], ["degraded", "missing"]);
    const warned = agent.stdout().split("\n").filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === "vault secret's token is too short to be used");
    assert.deepEqual([warned?.level, warned?.fields?.bytes], ["warn", 15], agent.stdout());
    assert.ok(!agent.stdout().includes(short), "the key is never logged");
  } finally {
    await agent.stop();
    await vault.shutdown();
    await dir.remove();
  }
});

Deno.test("compose-agent: a replay window shorter than twice the skew is a config error", async () => {
  const dir = await tempDir();
  try {
    const r = await runIatp(["compose-agent", "--port", "0"], {
      env: agentEnv(dir.path, { REPLAY_TTL_SECS: "2" }),
    });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /replay_ttl \(env REPLAY_TTL_SECS\): expected at least twice signature_max_skew \(2 x 5m = 10m\).*found 2s/,
    );
    const flags = await runIatp([
      "compose-agent",
      "--port",
      "0",
      "--signature-max-skew",
      "400s",
      "--replay-ttl",
      "700s",
    ], { env: agentEnv(dir.path) });
    assert.equal(flags.code, 2);
    assert.match(flags.stderr, /replay_ttl \(flag --replay-ttl\).*2 x 400s = 800s/);
    assert.doesNotMatch(r.stderr + flags.stderr, new RegExp(KEY), "the key is never printed");
    // Twice the skew exactly is sound: it starts (here with its key read from a file).
    await Deno.writeTextFile(`${dir.path}/agent.key`, `${KEY}\n`, { mode: 0o600 });
    const ok = await startIatpService(["compose-agent", "--port", "0"], {
      env: agentEnv(dir.path, {
        IATP_COMPOSE_AGENT_AGENT_TOKEN: `file:${dir.path}/agent.key`,
        SIGNATURE_MAX_SKEW_SECS: "1",
        REPLAY_TTL_SECS: "2",
        IATP_COMPOSE_AGENT_DOCKER_SOCKET: `${dir.path}/none.sock`,
      }),
    });
    try {
      // The command API loads with the first request its router serves; with a 1 s skew the
      // signature below is made once that load is done (an unsigned diagnostics read loads it).
      const warm = await fetch(`${ok.url}/api/v1/diagnostics/commands`);
      assert.equal(warm.status, 200);
      await warm.body?.cancel();
      const r = await signed(ok.url, "/api/v1/commands/execute", {
        command_id: "c-file",
        type: "health",
        parameters: {},
      });
      assert.equal(r.status, 200, JSON.stringify(r.json));
    } finally {
      await ok.stop();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("compose-agent signed API rejects every forged, stale, replayed or excessive request", async (t) => {
  const dir = await tempDir();
  const args = [
    "compose-agent",
    "--port",
    "0",
    "--docker-socket",
    `${dir.path}/none.sock`,
    "--max-body-bytes",
    "2048",
  ];
  const env = agentEnv(dir.path, {
    RATE_LIMIT_PER_MIN: "8",
    AGENT_SCOPES: "docker:health,docker:logs",
  });
  let agent = await startIatpService(args, { env });
  const health = { command_id: "c-1", type: "health", parameters: {} };
  const exec = "/api/v1/commands/execute";
  try {
    await t.step("a signed, scoped request is served", async () => {
      const r = await signed(agent.url, exec, health);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.deepEqual([r.json.command_id, r.json.executed_by], ["c-1", "compose_agent"]);
      assert.equal(r.json.status, "failed", "no daemon behind this agent");
      assert.match(String(r.json.error), /unreachable/);
    });
    await t.step("unsigned: 401", async () => {
      const res = await fetch(agent.url + exec, { method: "POST", body: JSON.stringify(health) });
      assert.equal(res.status, 401);
      const body = await res.json();
      assert.equal(body.reason, "unsigned");
      assert.ok(body.request_id);
    });
    await t.step("bad signature: 401", async () => {
      const r = await signed(agent.url, exec, health, { key: "not-the-key-000000" });
      assert.deepEqual([r.status, r.json.reason], [401, "bad_signature"]);
    });
    await t.step("skewed timestamp: 401", async () => {
      const r = await signed(agent.url, exec, health, { ts: Math.floor(Date.now() / 1000) + 900 });
      assert.deepEqual([r.status, r.json.reason], [401, "skew"]);
    });
    await t.step("a signed request sent to another path: 401", async () => {
      const r = await signed(agent.url, "/api/v1/commands/report", health, { sendPath: exec });
      assert.deepEqual([r.status, r.json.reason], [401, "bad_signature"]);
    });
    await t.step("missing scope: 403", async () => {
      const r = await signed(agent.url, exec, {
        command_id: "c-2",
        type: "restart",
        parameters: { name: "web" },
      });
      assert.equal(r.status, 403);
      assert.match(String(r.json.error), /missing scope docker:restart/);
    });
    await t.step("bad names and bad bodies: 400 naming the field", async () => {
      const r = await signed(agent.url, exec, {
        command_id: "c-3",
        type: "logs",
        parameters: { name: "../../etc" },
      });
      assert.equal(r.status, 400);
      assert.equal(r.json.field, "parameters.name");
      const notJson = await signed(agent.url, exec, undefined, {
        method: "POST",
        rawBody: "{nope",
      });
      assert.deepEqual([notJson.status, notJson.json.error], [400, "invalid JSON body"]);
    });
    await t.step("oversized body: 413", async () => {
      const r = await signed(agent.url, exec, { ...health, pad: "x".repeat(4096) });
      assert.equal(r.status, 413);
    });
    let replayed: Record<string, string> = {};
    await t.step("replay: 409", async () => {
      const first = await signed(agent.url, exec, health);
      assert.equal(first.status, 200);
      replayed = first.headers;
      const again = await signed(agent.url, exec, health, { headers: replayed });
      assert.deepEqual([again.status, again.json.reason], [409, "replay"]);
    });
    await t.step("replay after a restart: still 409", async () => {
      await agent.stop();
      agent = await startIatpService(args, { env });
      const again = await signed(agent.url, exec, health, { headers: replayed });
      assert.deepEqual([again.status, again.json.reason], [409, "replay"]);
    });
    await t.step("rate limit after authentication: 429", async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await signed(agent.url, exec, health)).status);
      assert.ok(statuses.includes(429), statuses.join(","));
      assert.deepEqual(statuses.slice(0, 8), Array(8).fill(200));
    });
    await t.step("rejections are counted in metrics", async () => {
      const text = await (await fetch(`${agent.url}/metrics`)).text();
      assert.match(
        text,
        /iatp_compose_agent_auth_rejected_total\{[^}]*reason="replay"[^}]*\} [1-9]/,
      );
      assert.match(text, /iatp_compose_agent_auth_rejected_total\{[^}]*reason="rate_limited"/);
    });
  } finally {
    await agent.stop();
    await dir.remove();
  }
});

Deno.test("compose-agent: a path with dot segments is a 400 before its signature is checked, so a signature covers the request-target sent", async () => {
  const dir = await tempDir();
  const args = ["compose-agent", "--port", "0", "--docker-socket", `${dir.path}/none.sock`];
  // Both verifiers: iatp's, and `both` (upstream's, which accepts a canonical signature too).
  try {
    for (const signing of ["iatp", "both"]) await dotSegments(signing, dir.path, args);
  } finally {
    await dir.remove();
  }
});

/** Dot-segment paths against an agent verifying with `signing`. */
async function dotSegments(signing: string, data: string, args: string[]): Promise<void> {
  const env = agentEnv(data, { IATP_COMPOSE_AGENT_SIGNING: signing });
  const agent = await startIatpService(args, { env });
  const port = Number(new URL(agent.url).port);
  // A raw socket: fetch and the URL parser would remove the dot segments before sending.
  const send = async (signedPath: string, sentPath: string) => {
    const h = await signRequest(KEY, { agentId: "compose-1", method: "GET", url: signedPath });
    const head = Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    const r = await exchange(
      port,
      `GET ${sentPath} HTTP/1.1\r\nHost: localhost\r\n${head}Connection: close\r\n\r\n`,
    );
    assert.ok(r, `no answer to ${sentPath}`);
    return r;
  };
  try {
    const wait = "/api/v1/commands/wait/dep-test?timeout=0";
    assert.equal((await send(wait, wait)).status, 204, "the plain path is served");
    // The URL parser removes dot segments before routing and before the signature is
    // checked: a signature over the path it makes of them would cover a request-target other
    // than the one sent (and matched by whatever sits in front), so they are refused first.
    for (
      const [signedPath, sent] of [
        ["/api/v1/commands/?timeout=0", "/api/v1/commands/wait/%2e%2e?timeout=0"],
        ["/api/v1/commands/?timeout=0", "/api/v1/commands/wait/%2E.?timeout=0"],
        ["/api/v1/commands/?timeout=0", "/api/v1/commands/wait/..?timeout=0"],
        ["/api/v1/commands/wait/?timeout=0", "/api/v1/commands/wait/%2e?timeout=0"],
        [wait, "/api/v1/commands/x/%2e%2e/wait/dep-test?timeout=0"],
        [wait, "/api/v1/x/.%2e/commands/wait/dep-test?timeout=0"],
        [wait, "http://a/api/v1/commands/x/%2e%2e/wait/dep-test?timeout=0"],
      ]
    ) {
      const r = await send(signedPath, sent);
      assert.equal(r.status, 400, `${signing} ${sent}: ${r.body}`);
      assert.equal(json(r).reason, "path_not_normal", sent);
      assert.match(String(json(r).error), /dot segments/);
    }
  } finally {
    await agent.stop();
  }
}

Deno.test("compose-agent local queue: enqueue, long-poll wait, report", async () => {
  const dir = await tempDir();
  const agent = await startIatpService(
    [
      "compose-agent",
      "--port",
      "0",
      "--docker-socket",
      `${dir.path}/none.sock`,
      "--queue-size",
      "1",
    ],
    { env: agentEnv(dir.path) },
  );
  try {
    const empty = await signed(agent.url, "/api/v1/commands/wait/dep-test?timeout=0", undefined);
    assert.equal(empty.status, 204);
    const waiting = signed(agent.url, "/api/v1/commands/wait/dep-test?timeout=30", undefined);
    const cmd = { command_id: "q-1", type: "restart", parameters: { name: "web" } };
    assert.equal((await signed(agent.url, "/api/v1/commands/enqueue", cmd)).status, 202);
    const got = await waiting;
    assert.equal(got.status, 200);
    assert.deepEqual((got.json.item as Record<string, unknown>).command_id, "q-1");
    assert.equal((got.json.item as Record<string, unknown>).deployment_hash, "dep-test");
    assert.equal((await signed(agent.url, "/api/v1/commands/enqueue", cmd)).status, 202);
    const full = await signed(agent.url, "/api/v1/commands/enqueue", { ...cmd, command_id: "q-2" });
    assert.equal(full.status, 503, "bounded queue");
    const other = await signed(agent.url, "/api/v1/commands/wait/other?timeout=0", undefined);
    assert.equal(other.status, 404);
    const report = {
      command_id: "q-1",
      deployment_hash: "dep-test",
      status: "success",
      completed_at: new Date().toISOString(),
      executed_by: "compose_agent",
      result: {},
    };
    assert.equal((await signed(agent.url, "/api/v1/commands/report", report)).status, 200);
    // Upstream's CommandResult: status is any string, command_id and completed_at are required.
    const bad = await signed(agent.url, "/api/v1/commands/report", { ...report, status: "" });
    assert.deepEqual([bad.status, bad.json.field], [400, "status"]);
    const { completed_at: _, ...noTime } = report;
    const late = await signed(agent.url, "/api/v1/commands/report", noTime);
    assert.deepEqual([late.status, late.json.field], [400, "completed_at"]);
  } finally {
    await agent.stop();
    await dir.remove();
  }
});

Deno.test({
  name: "compose-agent runs commands against a real dockerd",
  ignore: !dockerd.available,
}, async (t) => {
  const d = dockerd;
  const image = await ensureBusyboxImage(d.socket);
  const dir = await tempDir();
  const name = uniqueName("iatp-ca");
  const project = uniqueName("iatp-ca-app").toLowerCase();
  await runContainer(d.socket, name, [
    image,
    "sh",
    "-c",
    "echo ready AGENT_TOKEN=" + KEY +
    "; trap 'exit 0' TERM; while true; do sleep 1; done",
  ]);
  const agent = await startIatpService(
    ["compose-agent", "--port", "0", "--docker-socket", d.socket],
    {
      env: {
        ...agentEnv(dir.path),
        IATP_ALLOW_READ: d.socket,
        IATP_ALLOW_WRITE: d.socket,
      },
    },
  );
  let n = 0;
  const run = async (type: string, parameters: Record<string, unknown>) => {
    const r = await signed(agent.url, "/api/v1/commands/execute", {
      command_id: `cmd-${++n}`,
      type,
      parameters,
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json as { status: string; result: Record<string, unknown>; error: string | null };
  };
  try {
    await t.step("list_containers", async () => {
      const r = await run("list_containers", {});
      const rows = r.result as unknown as Array<{ name: string; state: string }>;
      assert.equal(rows.find((c) => c.name === name)?.state, "running");
    });
    await t.step("logs, with the agent's own token redacted", async () => {
      const r = await run("logs", { name, tail: 5 });
      assert.equal(r.status, "success");
      const lines = r.result.lines as Array<{ message: string; stream: string; redacted: boolean }>;
      assert.deepEqual(
        lines.map((l) => [l.message, l.stream, l.redacted]),
        [["ready AGENT_TOKEN=[REDACTED]", "stdout", true]],
      );
      assert.doesNotMatch(agent.stdout(), new RegExp(KEY), "logs never carry the token");
    });
    await t.step("stop, start, restart", async () => {
      assert.equal((await run("stop", { name, timeout_secs: 2 })).result.state, "exited");
      assert.equal((await run("start", { name })).result.running, true);
      const r = await run("restart", { name, timeout_secs: 2 });
      assert.deepEqual([r.status, r.result.running], ["success", true]);
    });
    await t.step("deploy_app and remove_app of a two-service project", async () => {
      const compose = `version: "2.4"
services:
  api:
    image: ${image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    network_mode: none
  db:
    image: ${image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    network_mode: none
`;
      const up = await run("deploy_app", { project, compose_file: compose });
      assert.equal(up.status, "success", JSON.stringify(up));
      const services = up.result.services as Array<{ service: string; state: string }>;
      assert.deepEqual(services.map((s) => `${s.service}:${s.state}`), [
        "api:running",
        "db:running",
      ]);
      const down = await run("remove_app", { project, stop_timeout_secs: 1 });
      assert.equal(down.status, "success", JSON.stringify(down));
      const left = await dockerCli(d.socket, [
        "ps",
        "-aq",
        "--filter",
        `label=com.docker.compose.project=${project}`,
      ]);
      assert.equal(left.stdout.trim(), "");
    });
    await t.step("a command on a missing container is failed, not an HTTP error", async () => {
      const r = await run("restart", { name: `${name}-gone` });
      assert.equal(r.status, "failed");
      assert.match(r.error!, /no such container/i);
    });
  } finally {
    await agent.stop();
    await removeContainers(d.socket, [name]);
    await dir.remove();
  }
});

Deno.test("compose-agent: deploy_app asking more of the host than deploy_allow grants is a 403 naming the field", async () => {
  const dir = await tempDir();
  const args = ["compose-agent", "--port", "0", "--docker-socket", `${dir.path}/none.sock`];
  const env = agentEnv(dir.path, {
    AGENT_SCOPES: "compose:deploy_app",
    IATP_COMPOSE_AGENT_DEPLOY_ALLOW_BIND_ROOTS: "/srv/shared",
    IATP_COMPOSE_AGENT_DEPLOY_ALLOW_PROVIDERS: "model",
  });
  const agent = await startIatpService(args, { env });
  const exec = "/api/v1/commands/execute";
  const deploy = (id: string, service: string) =>
    signed(agent.url, exec, {
      command_id: id,
      type: "deploy_app",
      parameters: { project: "web", compose_file: `services:\n  web:\n    image: x\n${service}` },
    });
  try {
    const priv = await deploy("d-1", "    privileged: true\n");
    assert.equal(priv.status, 403);
    assert.equal(priv.json.field, "parameters.compose_file: services.web.privileged");
    assert.equal(priv.json.setting, "deploy_allow.privileged");
    assert.equal(typeof priv.json.request_id, "string");
    const sock = await deploy("d-2", "    volumes: [/var/run/docker.sock:/s]\n");
    assert.equal(sock.status, 403);
    assert.equal(sock.json.field, "parameters.compose_file: services.web.volumes[0]");
    // Under the configured bind root the check passes; compose then fails on this host (no
    // daemon at the socket): a ran-and-failed 200, not a refusal.
    const shared = await deploy("d-3", "    volumes: [/srv/shared/a:/a]\n");
    assert.equal(shared.status, 200, JSON.stringify(shared.json));
    assert.equal(shared.json.status, "failed");
    // A provider is a host program compose runs: only the granted types.
    const other = await deploy("d-4", "    provider: {type: ./run, options: {a: b}}\n");
    assert.equal(other.status, 403);
    assert.equal(other.json.field, "parameters.compose_file: services.web.provider");
    assert.equal(other.json.setting, "deploy_allow.providers");
    const model = await deploy("d-5", "    provider: {type: model, options: {model: ai/m}}\n");
    assert.equal(model.status, 200, JSON.stringify(model.json));
    assert.equal(model.json.status, "failed");
  } finally {
    await agent.stop();
    await dir.remove();
  }
});

Deno.test("compose-agent: a replay store that cannot open answers 503 replay_unavailable, and opens once it can", async () => {
  const dir = await tempDir();
  const db = `${dir.path}/replay.sqlite`;
  const env = agentEnv(dir.path, { AGENT_SCOPES: "docker:health" });
  // A folder where the SQLite file should be is refused at start (its writer lock is taken then).
  await Deno.mkdir(db);
  const folder = await runIatp(["compose-agent", "--port", "0", "--replay-db", db], { env });
  assert.equal(folder.code, 2, folder.stderr);
  assert.match(folder.stderr, /config error: replay_db \(flag --replay-db\): .*is a directory/);
  await Deno.remove(db);
  // A file that is no database: the agent starts, and SQLite cannot open it with a request.
  await Deno.writeTextFile(db, "not a database, but long enough to hold a header\n".repeat(4));
  const agent = await startIatpService([
    "compose-agent",
    "--port",
    "0",
    "--docker-socket",
    `${dir.path}/none.sock`,
    "--replay-db",
    db,
  ], { env });
  const exec = "/api/v1/commands/execute";
  try {
    const health = async () => await (await fetch(`${agent.url}/health`)).json();
    // Idle, the store is not opened: the agent started and answers /health.
    assert.equal((await health()).replay_store, "not opened");
    assert.equal((await health()).agent_key, "present");
    const refused = await signed(agent.url, exec, {
      command_id: "c-1",
      type: "health",
      parameters: {},
    });
    assert.equal(refused.status, 503, JSON.stringify(refused.json));
    assert.equal(refused.json.reason, "replay_unavailable");
    // An operator sees why every command is refused: /health is degraded and names the store.
    const failing = await health();
    assert.equal(failing.status, "degraded");
    assert.equal(failing.replay_store, "unavailable");
    assert.equal(typeof failing.replay_store_failed_at, "string");
    await Deno.truncate(db); // emptied in place (the agent holds its lock): a new store
    const served = await signed(agent.url, exec, {
      command_id: "c-2",
      type: "health",
      parameters: {},
    });
    assert.equal(served.status, 200, JSON.stringify(served.json));
    assert.ok((await Deno.stat(db)).size > 0, "the store was created with the request");
    const open = await health();
    assert.equal(open.replay_store, "open");
    assert.equal(open.replay_store_failed_at, undefined);
  } finally {
    await agent.stop();
    await dir.remove();
  }
});

Deno.test("compose-agent: a project's compose file swapped for a pipe with no writer is a 400, and the agent answers meanwhile", async () => {
  const dir = await tempDir();
  const project = `${dir.path}/projects/web`;
  await Deno.mkdir(project, { recursive: true });
  const file = `${project}/compose.yaml`;
  // A look at the path sees this regular file; the open gets the pipe (tests/support/stat_swap.ts).
  await Deno.writeTextFile(`${file}.shown`, "services:\n  web:\n    image: x\n");
  assert.ok((await new Deno.Command("mkfifo", { args: [file] }).output()).success, "mkfifo");
  const agent = spawnChild(Deno.execPath(), [
    "run",
    "-A",
    "--preload",
    `${ROOT}tests/support/stat_swap.ts`,
    `${ROOT}main.ts`,
    "compose-agent",
    "--port",
    "0",
    "--docker-socket",
    `${dir.path}/none.sock`,
    "--projects-root",
    `${dir.path}/projects`,
  ], {
    env: agentEnv(dir.path, {
      AGENT_SCOPES: "compose:deploy_app",
      IATP_FILE_READ_TIMEOUT: "200ms",
      IATP_TEST_STAT_SWAP: `${file}=${file}.shown`,
    }),
  });
  // A bound on each answer, so that an agent that stopped fails the test rather than hang it.
  const bounded = (url: string) => fetch(url, { signal: AbortSignal.timeout(20_000) });
  try {
    const url = await waitListening(agent);
    const exec = "/api/v1/commands/execute";
    const h = await signRequest(KEY, {
      agentId: "status-panel",
      method: "POST",
      url: exec,
      body: JSON.stringify({
        command_id: "p-1",
        type: "deploy_app",
        parameters: { project: "web", project_dir: "web" },
      }),
    });
    const deploy = fetch(url + exec, {
      method: "POST",
      headers: { ...h, "content-type": "application/json" },
      body: JSON.stringify({
        command_id: "p-1",
        type: "deploy_app",
        parameters: { project: "web", project_dir: "web" },
      }),
      signal: AbortSignal.timeout(20_000),
    });
    const health = await bounded(`${url}/health`);
    assert.equal(health.status, 200, "the agent answers while the read waits on the pipe");
    await health.body?.cancel();
    const res = await deploy;
    const body = await res.json();
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.field, "parameters.project_dir");
    assert.match(String(body.error), /compose file is not read: no data arrived within/);
    assert.equal((await Deno.lstat(file)).isFifo, true, "the pipe with no writer is still there");
    const again = await bounded(`${url}/health`);
    assert.equal(again.status, 200);
    await again.body?.cancel();
  } finally {
    await agent.stop("SIGKILL");
    await dir.remove();
  }
});
