// TryDirect status agent and Stacker (trydirect/status) against iatp's compose-agent and status
// agent over real sockets: upstream's signature vectors, its security_integration.rs cases with
// `signing: upstream`, and the Stacker restart flow with `app_code` on a real dockerd.
import assert from "node:assert/strict";
import {
  bodySignature,
  checkBodySignature,
  decodeBodySignature,
  signBodyRequest,
} from "../../core/auth/mod.ts";
import { startIatpService, tempDir } from "../helpers.ts";
import {
  ensureBusyboxImage,
  ensureDockerd,
  removeContainers,
  runContainer,
  uniqueName,
} from "../support/dockerd.ts";
import { startFakeStacker } from "./stacker_fake.ts";

/** The test Docker daemon; the test that needs it is ignored (never passed) without one. */
const dockerd = await ensureDockerd();

// Vectors of trydirect/status src/security/request_signer.rs and src/transport/http_polling.rs
// tests (report_result_posts_payload, wait_for_command_adds_hmac_headers) and
// tests/security_integration.rs (sign_b64 of the signed wait and execute bodies).
const VECTORS: Array<[key: string, body: string, base64: string]> = [
  [
    "token-abc",
    '{"command_id":"cmd-1","completed_at":"2023-11-15T10:00:00Z","deployment_hash":"dep-hash-123","error":null,"executed_by":"compose_agent","status":"success"}',
    "x9ZRhSL4DHeQbhrm3Sg113eD+jAWvCWXDZAACOwuHaU=",
  ],
  ["token-abc", "", "Y9BLTyqf3A7iOn+zYh+fSjAVoIakozoLuRlKBAxbV/s="],
  ["secret", "hello", "iKqz7ejTrflNJquQ07r9SiCDBww7zOnAFO4EpEOEfAs="],
  ["test-secret", "request body", "swvl6kRO6Wg3PzsXTRs2uqh98/sMtEcn2uINAJlbI84="],
  ["key", "", "XV0TlWPJW1lnub2ajJsjOp3ttFByeUzSMtwbdIMmB9A="],
  ["secret-token", "", "h1nsrdkNT/Dw+hrj9ZEFwTtKVufKOulwWApWpwyjncc="],
  [
    "secret-token",
    '{"command_id":"cmd-exec-2","id":"cmd-2","name":"echo hi","params":{"timeout_secs":2}}',
    "bIKx/hdj8f5r+paYdCT8gvkSpRcSCXFsaqrrc0M6NSw=",
  ],
];

Deno.test("upstream signature vectors: body-only base64 HMAC-SHA256", async () => {
  for (const [key, body, b64] of VECTORS) assert.equal(await bodySignature(key, body), b64);
  // Hex of the first vector is accepted too (upstream decodes hex when base64 does not apply).
  const hex = "c7d6518522f80c77906e1ae6dd2835d77783fa3016bc25970d900008ec2e1da5";
  const now = Date.now();
  const ok = await checkBodySignature(VECTORS[0][0], {
    timestamp: String(Math.floor(now / 1000)),
    signature: hex,
    body: new TextEncoder().encode(VECTORS[0][1]),
    maxSkewSecs: 60,
    nowMs: now,
  });
  assert.equal(ok, undefined);
});

Deno.test("upstream decode and verify vectors (request_signer.rs tests)", async () => {
  const dec = (s: string) => {
    const b = decodeBodySignature(s);
    return b ? new TextDecoder().decode(b) : undefined;
  };
  assert.equal(dec(btoa("test data for signature")), "test data for signature");
  assert.equal(dec("68656c6c6f"), "hello");
  assert.equal(dec("48454C4C4F"), "HELLO");
  assert.equal(dec("xyz"), undefined);
  const body = new TextEncoder().encode('{"x":1}');
  const now = Date.now();
  const ts = (ago: number) => String(Math.floor(now / 1000) - ago);
  const sig = await bodySignature("k", body);
  const check = (o: Partial<Parameters<typeof checkBodySignature>[1]>, key = "k") =>
    checkBodySignature(key, {
      timestamp: ts(0),
      signature: sig,
      body,
      maxSkewSecs: 60,
      nowMs: now,
      ...o,
    });
  assert.equal(await check({}), undefined);
  assert.equal(await check({ timestamp: undefined }), "missing X-Timestamp");
  assert.equal(await check({ timestamp: "not-a-number" }), "invalid X-Timestamp");
  assert.equal(await check({ timestamp: ts(120) }), "stale request (timestamp skew)");
  assert.equal(await check({ signature: undefined }), "missing X-Agent-Signature");
  assert.equal(await check({ signature: "xyz" }), "invalid signature encoding");
  assert.equal(await check({}, "other"), "signature mismatch");
  assert.equal(await check({ body: new TextEncoder().encode('{"x":2}') }), "signature mismatch");
  assert.equal(await check({ timestamp: ts(30) }), undefined);
});

/** The compose-agent's HMAC key here: upstream's `secret-token`, lengthened to the 16 bytes it needs. */
const AGENT_KEY = "secret-token-0123";

/** Upstream's `post_with_sig` (tests/security_integration.rs): body-only signature, fresh id. */
async function postWithSig(base: string, path: string, body: unknown, requestId?: string) {
  const text = JSON.stringify(body);
  const h = await signBodyRequest(AGENT_KEY, { agentId: "agent-1", body: text, requestId });
  const res = await fetch(base + path, {
    method: "POST",
    headers: { ...h, "content-type": "application/json" },
    body: text,
  });
  return { status: res.status, json: await res.json().catch(() => ({})) };
}

async function signedWait(base: string, path: string) {
  const h = await signBodyRequest(AGENT_KEY, { agentId: "agent-1", body: "" });
  const res = await fetch(base + path, { headers: h });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** Upstream's `router_with_env(agent-1, secret-token, scopes)` as a compose-agent process. */
async function agentWith(data: string, scopes: string, extra: Record<string, string> = {}) {
  return await startIatpService(["compose-agent", "--port", "0"], {
    env: {
      IATP_DATA_DIR: data,
      // AGENT_ID/AGENT_TOKEN configure only `iatp status` on a host; the compose-agent has its own.
      IATP_COMPOSE_AGENT_AGENT_ID: "agent-1",
      IATP_COMPOSE_AGENT_AGENT_TOKEN: AGENT_KEY,
      AGENT_SCOPES: scopes,
      RATE_LIMIT_PER_MIN: "1000",
      IATP_COMPOSE_AGENT_SIGNING: "upstream",
      IATP_COMPOSE_AGENT_DOCKER_SOCKET: `${data}/no-docker.sock`,
      IATP_COMPOSE_AGENT_REPLAY_DB: ":memory:",
      ...extra,
    },
  });
}

Deno.test("security_integration.rs cases over HTTP with signing: upstream", async (t) => {
  const dir = await tempDir();
  const exec = "/api/v1/commands/execute";
  try {
    await t.step("execute_requires_signature_and_scope; replay_detection_returns_409", async () => {
      const a = await agentWith(dir.path, "commands:execute");
      try {
        assert.match(a.stdout(), /body-only signatures can be replayed/, "warns at start");
        const unsigned = await fetch(a.url + exec, {
          method: "POST",
          headers: { "content-type": "application/json", "X-Agent-Id": "agent-1" },
          body: JSON.stringify({
            id: "cmd-1",
            command_id: "cmd-exec-1",
            name: "echo hello",
            params: { timeout_secs: 2 },
          }),
        });
        assert.equal(unsigned.status, 401);
        assert.equal((await unsigned.json()).error, "invalid signature: missing X-Timestamp");
        const ok = await postWithSig(a.url, exec, {
          id: "cmd-2",
          command_id: "cmd-exec-2",
          name: "echo hi",
          params: { timeout_secs: 2 },
        });
        assert.equal(ok.status, 200);
        // iatp never runs shell lines: the command is answered as failed, not run.
        assert.deepEqual([ok.json.command_id, ok.json.status], ["cmd-exec-2", "failed"]);
        const rid = crypto.randomUUID();
        const body = { id: "cmd-3", command_id: "cmd-exec-3", name: "echo hi", params: {} };
        assert.equal((await postWithSig(a.url, exec, body, rid)).status, 200);
        const again = await postWithSig(a.url, exec, body, rid);
        assert.deepEqual([again.status, again.json.error], [409, "replay detected"]);
        const other = await fetch(a.url + exec, {
          method: "POST",
          headers: await signBodyRequest(AGENT_KEY, { agentId: "agent-2", body: "{}" }),
          body: "{}",
        });
        assert.equal(other.status, 401);
        assert.equal((await other.json()).error, "Invalid or missing X-Agent-Id");
      } finally {
        await a.stop();
      }
    });
    await t.step("rate_limit_returns_429", async () => {
      const a = await agentWith(dir.path, "commands:execute", { RATE_LIMIT_PER_MIN: "1" });
      try {
        const b = (id: string) => ({ id, command_id: `cmd-${id}`, name: "echo a", params: {} });
        assert.equal((await postWithSig(a.url, exec, b("r1"))).status, 200);
        const s2 = await postWithSig(a.url, exec, b("r2"));
        assert.deepEqual([s2.status, s2.json.error], [429, "rate limited"]);
      } finally {
        await a.stop();
      }
    });
    await t.step("scope_denied_returns_403", async () => {
      const a = await agentWith(dir.path, "commands:report");
      try {
        const r = await postWithSig(a.url, exec, {
          id: "cmd-4",
          command_id: "cmd-exec-4",
          name: "echo hi",
          params: {},
        });
        assert.deepEqual([r.status, r.json.error], [403, "insufficient scope"]);
      } finally {
        await a.stop();
      }
    });
    await t.step("wait_can_require_signature; signed wait on an empty queue is 204", async () => {
      const a = await agentWith(dir.path, "commands:wait");
      try {
        const unsigned = await fetch(`${a.url}/api/v1/commands/wait/session?timeout=1`, {
          headers: { "X-Agent-Id": "agent-1" },
        });
        await unsigned.body?.cancel();
        assert.equal(unsigned.status, 401);
        const w = await signedWait(a.url, "/api/v1/commands/wait/session?timeout=1");
        assert.equal(w.status, 204);
      } finally {
        await a.stop();
      }
    });
    await t.step("enqueue, wait, report and the diagnostics counters", async () => {
      const a = await agentWith(dir.path, "commands:enqueue,commands:wait,commands:report");
      try {
        const q = await postWithSig(a.url, "/api/v1/commands/enqueue", {
          id: "queued-activate-pipe",
          command_id: "queued-activate-pipe",
          name: "activate_pipe",
          deployment_hash: "dep-daemon",
          params: { pipe_instance_id: "pipe-daemon-1", trigger_type: "manual" },
        });
        assert.deepEqual([q.status, q.json.queued], [202, true]);
        const w = await signedWait(a.url, "/api/v1/commands/wait/dep-daemon?timeout=1");
        assert.equal(w.status, 200);
        assert.equal(w.json.name, "activate_pipe");
        assert.equal(w.json.deployment_hash, "dep-daemon");
        assert.equal(w.json.params.pipe_instance_id, "pipe-daemon-1");
        const rep = await postWithSig(a.url, "/api/v1/commands/report", {
          command_id: "queued-activate-pipe",
          status: "success",
          result: { type: "activate_pipe", pipe_instance_id: "pipe-daemon-1" },
          completed_at: new Date().toISOString(),
          deployment_hash: "dep-daemon",
          command_type: "activate_pipe",
          executed_by: "status_panel",
        });
        assert.deepEqual([rep.status, rep.json.accepted], [200, true]);
        const d = await (await fetch(`${a.url}/api/v1/diagnostics/commands`)).json();
        assert.deepEqual(
          [d.status_panel_count, d.total_count, d.last_control_plane],
          [1, 1, "status_panel"],
        );
        const h = await (await fetch(`${a.url}/health`)).json();
        assert.equal(h.command_metrics.total_count, 1);
        assert.equal(typeof h.token_age_seconds, "number");
        assert.equal(h.last_refresh_ok, null);
      } finally {
        await a.stop();
      }
    });
  } finally {
    await dir.remove();
  }
});

Deno.test({
  name: "Stacker flow: restart by app_code through status and compose-agent on dockerd",
  ignore: !dockerd.available,
}, async () => {
  const d = dockerd;
  const image = await ensureBusyboxImage(d.socket);
  const dir = await tempDir();
  const name = uniqueName("iatp-stacker");
  const agentId = crypto.randomUUID();
  const token = "stacker-vault-token-0123456789";
  const hash = "dep-stacker-1";
  await runContainer(d.socket, name, [image, "sh", "-c", "trap 'exit 0' TERM; sleep 3600"]);
  const stacker = startFakeStacker({ agentId, token, deploymentHash: hash });
  const common = {
    IATP_DATA_DIR: dir.path,
    AGENT_ID: agentId,
    AGENT_TOKEN: token,
    DEPLOYMENT_HASH: hash,
  };
  const compose = await startIatpService(
    ["compose-agent", "--port", "0", "--docker-socket", d.socket],
    {
      env: {
        IATP_DATA_DIR: dir.path,
        IATP_COMPOSE_AGENT_AGENT_ID: agentId,
        IATP_COMPOSE_AGENT_AGENT_TOKEN: token,
        IATP_COMPOSE_AGENT_DEPLOYMENT_HASH: hash,
        AGENT_SCOPES: "commands:execute",
        IATP_COMPOSE_AGENT_SIGNING: "upstream",
        IATP_ALLOW_READ: d.socket,
        IATP_ALLOW_WRITE: d.socket,
      },
    },
  );
  const status = await startIatpService(["status", "--port", "0"], {
    env: {
      ...common,
      DASHBOARD_URL: stacker.url,
      POLLING_TIMEOUT_SECS: "1",
      IATP_STATUS_SIGNING: "upstream",
      IATP_STATUS_COMPOSE_AGENT_URL: compose.url,
      IATP_STATUS_COMPOSE_AGENT_TOKEN: token,
    },
  });
  try {
    assert.match(status.stdout(), /agent token is sent as Authorization: Bearer/);
    const before = await inspectStartedAt(d.socket, name);
    const id = stacker.enqueue("restart", { app_code: name, force: false });
    const report = await stacker.waitForReport(id);
    assert.equal(report.status, "success", JSON.stringify(report));
    const result = report.result!;
    assert.deepEqual(
      [result.type, result.app_code, result.status, result.container_state],
      ["restart", name, "ok", "running"],
    );
    assert.notEqual(await inspectStartedAt(d.socket, name), before, "the container restarted");
    const logs = stacker.enqueue("logs", { app_code: name, limit: 10 });
    assert.equal((await stacker.waitForReport(logs)).result?.type, "logs");
    assert.doesNotMatch(status.stdout() + compose.stdout(), new RegExp(token));
  } finally {
    await status.stop();
    await compose.stop();
    await stacker.close();
    await removeContainers(d.socket, [name]);
    await dir.remove();
  }
});

async function inspectStartedAt(socket: string, name: string): Promise<string> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    const res = await fetch(`http://docker/containers/${name}/json`, { client });
    return (await res.json()).State.StartedAt;
  } finally {
    client.close();
  }
}
