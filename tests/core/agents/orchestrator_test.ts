import assert from "node:assert/strict";
import { join } from "node:path";
import {
  OrchestratorClient,
  type OrchestratorOptions,
  retryAfterMs,
} from "../../../core/agents/orchestrator.ts";
import { deadline } from "../../../core/async/mod.ts";
import { createLogger, silentLogger } from "../../../core/log/mod.ts";
import { startFakeOrchestrator } from "../../support/fake_orchestrator.ts";
import { tempDir } from "../../helpers.ts";

const TOKEN = "orch-token-1234";

function client(url: string, extra: Partial<OrchestratorOptions> = {}) {
  const attempts: string[] = [];
  const c = new OrchestratorClient({
    baseUrl: url,
    agentId: "agent-1",
    timeoutMs: 5_000,
    retryAttempts: 3,
    retryDelayMs: 10,
    retryMaxDelayMs: 50,
    rateLimitRps: 1_000,
    rateLimitBurst: 1_000,
    apiKey: TOKEN,
    log: silentLogger,
    onAttempt: (call, outcome) => attempts.push(`${call}:${outcome}`),
    ...extra,
  });
  return { c, attempts };
}

Deno.test("orchestrator client: the four calls speak the documented wire format", async () => {
  const orch = await startFakeOrchestrator({
    agentId: "agent-1",
    token: TOKEN,
    nextPollInterval: 7,
  });
  const { c } = client(orch.url);
  try {
    await c.heartbeat("online");
    let out = await c.poll();
    assert.equal(out.instruction, undefined);
    assert.equal(out.nextPollMs, 7_000);
    assert.equal(out.status, "no_pending_instructions");
    orch.enqueue({
      id: "ins-1",
      agent_id: "agent-1",
      priority: "high",
      plugin_id: "echo-action",
      instruction_type: "execute",
      plugin_configuration: {},
      input_data: { a: 1 },
      timeout_seconds: 30,
      max_retries: 1,
      correlation_id: "corr-9",
    });
    out = await c.poll();
    assert.equal(out.instruction?.id, "ins-1");
    assert.equal(out.instruction?.correlation_id, "corr-9");
    assert.deepEqual(out.instruction?.input_data, { a: 1 });
    await c.reportExecuting("ins-1", ["[2006-01-02T15:04:05.000Z] started"]);
    const ack = await c.reportResult("ins-1", {
      status: "completed",
      result: { output: 1 },
      execution_log: ["[2006-01-02T15:04:05.000Z] done"],
    });
    assert.equal(ack.acknowledged, true);
    assert.deepEqual(orch.violations, []);
    assert.equal(orch.heartbeats()[0].status, "online");
    assert.equal(orch.results("ins-1").length, 1);
    assert.equal(orch.statusUpdates("ins-1").length, 1);
  } finally {
    c.close();
    await orch.close();
  }
});

Deno.test("orchestrator client: 500, 429 and 408 are retried; 400 and 401 are not", async () => {
  const orch = await startFakeOrchestrator({ agentId: "agent-1", token: TOKEN });
  const { c, attempts } = client(orch.url);
  try {
    orch.failNext("poll", 2, 500);
    await c.poll();
    assert.deepEqual(attempts, ["poll:500", "poll:500", "poll:200"]);
    attempts.length = 0;
    orch.failNext("poll", 2, 429);
    await c.poll();
    orch.failNext("poll", 1, 408);
    await c.poll();
    assert.deepEqual(attempts, ["poll:429", "poll:429", "poll:200", "poll:408", "poll:200"]);
    attempts.length = 0;
    orch.failNext("poll", 1, 400);
    await assert.rejects(c.poll(), /HTTP 400/);
    assert.deepEqual(attempts, ["poll:400"]);
    orch.failNext("poll", 10, 503);
    await assert.rejects(c.poll(), /HTTP 503/);
    const bad = client(orch.url, { apiKey: "wrong-token" }).c;
    await assert.rejects(bad.poll(), /HTTP 401/);
    bad.close();
  } finally {
    c.close();
    await orch.close();
  }
});

Deno.test("orchestrator client: network errors are retried, then reported", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const { c, attempts } = client(`http://127.0.0.1:${port}`, { retryAttempts: 2 });
  try {
    await assert.rejects(c.poll(), /poll:/);
    assert.deepEqual(attempts, ["poll:error", "poll:error", "poll:error"]);
  } finally {
    c.close();
  }
});

Deno.test("orchestrator client: bearer token from token_file, re-read when it changes", async () => {
  const dir = await tempDir();
  const orch = await startFakeOrchestrator({ agentId: "agent-1", token: TOKEN });
  const file = join(dir.path, "agent.jwt");
  await Deno.writeTextFile(file, "stale-token-0000\n");
  const { c } = client(orch.url, { apiKey: undefined, tokenFile: file, retryAttempts: 0 });
  try {
    await assert.rejects(c.heartbeat("online"), /HTTP 401/);
    await Deno.writeTextFile(file, `Bearer ${TOKEN}\n`);
    await Deno.utime(file, new Date(), new Date(Date.now() + 5_000));
    await c.heartbeat("online");
    assert.equal(orch.heartbeats().length, 1);
  } finally {
    c.close();
    await orch.close();
    await dir.remove();
  }
});

Deno.test("orchestrator client: a token_file that is a pipe with no writer fails the request once IATP_FILE_READ_TIMEOUT passes", async () => {
  const dir = await tempDir();
  const orch = await startFakeOrchestrator({ agentId: "agent-1", token: TOKEN });
  const file = join(dir.path, "agent.jwt");
  assert.ok((await new Deno.Command("mkfifo", { args: [file] }).output()).success, "mkfifo");
  const { c } = client(orch.url, { apiKey: undefined, tokenFile: file, retryAttempts: 0 });
  const before = Deno.env.get("IATP_FILE_READ_TIMEOUT");
  Deno.env.set("IATP_FILE_READ_TIMEOUT", "200ms");
  try {
    // Bounded: a read that waits on the pipe for good fails the test with a timeout instead.
    await assert.rejects(
      deadline(c.heartbeat("online"), 20_000),
      /no data arrived within 200ms \(a pipe with no writer\?\)/,
    );
    assert.equal(orch.heartbeats().length, 0);
  } finally {
    if (before === undefined) Deno.env.delete("IATP_FILE_READ_TIMEOUT");
    else Deno.env.set("IATP_FILE_READ_TIMEOUT", before);
    // A late writer releases the open the wait gave up on.
    (await Deno.open(file, { write: true })).close();
    await new Promise((r) => setTimeout(r, 50));
    c.close();
    await orch.close();
    await dir.remove();
  }
});

Deno.test("orchestrator client: an invalid instruction is named, not thrown", async () => {
  const orch = await startFakeOrchestrator({ agentId: "agent-1", token: TOKEN });
  const { c } = client(orch.url);
  try {
    orch.enqueue({ id: "bad/../id", instruction_type: "execute" });
    orch.enqueue({ id: "ok-id", instruction_type: 5 });
    let out = await c.poll();
    assert.equal(out.instruction, undefined);
    assert.equal(out.rejected?.id, "bad/../id");
    out = await c.poll();
    assert.equal(out.rejected?.id, "ok-id");
    assert.match(out.rejected!.reason, /instruction_type/);
  } finally {
    c.close();
    await orch.close();
  }
});

Deno.test("orchestrator client: the token bucket spaces requests at the configured rate", async () => {
  const orch = await startFakeOrchestrator({ agentId: "agent-1", token: TOKEN });
  const { c } = client(orch.url, { rateLimitRps: 5, rateLimitBurst: 1 });
  try {
    const started = performance.now();
    for (let i = 0; i < 6; i++) await c.heartbeat("online");
    // 1 from the bucket, then 5 more at 5/s: at least ~1 s, whatever the machine's speed.
    assert.ok(performance.now() - started >= 950);
    assert.equal(orch.heartbeats().length, 6);
  } finally {
    c.close();
    await orch.close();
  }
});

Deno.test("retryAfterMs: seconds and HTTP dates", () => {
  assert.equal(retryAfterMs("3"), 3_000);
  assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6_000);
  assert.equal(retryAfterMs("soon"), undefined);
  assert.equal(retryAfterMs(null), undefined);
});

Deno.test("orchestrator client: a next_poll_interval below a second is raised to one", async () => {
  const orch = await startFakeOrchestrator({
    agentId: "agent-1",
    token: TOKEN,
    nextPollInterval: 0.001, // would have the agent poll a thousand times a second
  });
  const { c } = client(orch.url);
  try {
    assert.equal((await c.poll()).nextPollMs, 1_000);
  } finally {
    c.close();
    await orch.close();
  }
});

Deno.test("orchestrator client: a redirect is not followed; a body that stalls fails naming the call", async () => {
  // Where a redirect points: it must never be asked anything.
  const elsewhere: string[] = [];
  const other = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    elsewhere.push(
      `${req.method} ${new URL(req.url).pathname} ${req.headers.get("authorization")}`,
    );
    return Response.json({ instruction: { id: "from-elsewhere", instruction_type: "execute" } });
  });
  let stall = false;
  const bodies: ReadableStreamDefaultController<Uint8Array>[] = [];
  const orch = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (stall) {
      // Headers and a first byte, then nothing until the client gives up.
      return new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode("{"));
            bodies.push(c);
          },
        }),
      );
    }
    const to = `http://127.0.0.1:${other.addr.port}${new URL(req.url).pathname}`;
    return new Response(null, { status: 307, headers: { location: to } });
  });
  const { c, attempts } = client(`http://127.0.0.1:${orch.addr.port}`, { timeoutMs: 500 });
  try {
    await assert.rejects(c.poll(), /poll: HTTP 307 \(a redirect, not followed\)/);
    await assert.rejects(
      c.reportResult("i-1", { status: "completed", result: {}, execution_log: [] }),
      /result: HTTP 307/,
    );
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(attempts, ["poll:307", "result:307"]);
    stall = true;
    attempts.length = 0;
    await assert.rejects(c.poll(), /poll: HTTP 200 response body not read: .*timeout/);
    // Retried like a network error (retry_attempts 3).
    assert.deepEqual(attempts, ["poll:200", "poll:200", "poll:200", "poll:200"]);
  } finally {
    c.close();
    for (const b of bodies) {
      try {
        b.close();
      } catch { /* the client cancelled it */ }
    }
    await orch.shutdown();
    await other.shutdown();
  }
});

Deno.test("orchestrator client: Retry-After 0 does not shorten the backoff; a long one is capped", async () => {
  // Before, `Retry-After: 0` replaced the backoff: every retry of a 429 went out at once.
  let answer = "0";
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("slow down", { status: 429, headers: { "retry-after": answer } }),
  );
  const delays: number[] = [];
  const log = createLogger({
    service: "test",
    level: "warn",
    sink: (line) => {
      const { msg, fields } = JSON.parse(line);
      if (msg === "orchestrator call failed; retrying") delays.push(fields.delay_ms);
    },
  });
  const { c, attempts } = client(`http://127.0.0.1:${server.addr.port}`, {
    log,
    retryDelayMs: 40,
    retryMaxDelayMs: 200,
  });
  try {
    await assert.rejects(c.poll(), /HTTP 429/);
    assert.deepEqual(attempts, ["poll:429", "poll:429", "poll:429", "poll:429"]);
    // The jittered backoff: half to all of 40, 80, 160 ms.
    assert.equal(delays.length, 3);
    [40, 80, 160].forEach((ceiling, i) => {
      assert.ok(delays[i] >= ceiling / 2 && delays[i] <= ceiling, `retry ${i + 1}: ${delays[i]}`);
    });
    delays.length = 0;
    answer = "3600"; // an hour: the wait stops at api.retry_max_delay
    await assert.rejects(c.poll(), /HTTP 429/);
    assert.deepEqual(delays, [200, 200, 200]);
  } finally {
    c.close();
    await server.shutdown();
  }
});

Deno.test("orchestrator client: a response body over api.max_response_bytes fails the call naming the setting", async () => {
  const padding = "x".repeat(3_000);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ instruction: null, status: "ok", padding }),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  const small = client(url, { maxResponseBytes: 2_048 });
  const large = client(url, { maxResponseBytes: 4_096 });
  try {
    await assert.rejects(
      small.c.poll(),
      /poll: response larger than api\.max_response_bytes \(2048 bytes\)/,
    );
    assert.deepEqual(small.attempts, ["poll:200"], "not retried");
    // The same answer under a larger bound is read (the unknown member ignored).
    assert.deepEqual(await large.c.poll(), { status: "ok" });
  } finally {
    small.c.close();
    large.c.close();
    await server.shutdown();
  }
});
