/**
 * The flight recorder shared by sidecar replicas on one real Redis: a trace recorded by one
 * replica answers on the other (launcher-run, so the permission table's grants are exercised),
 * the per-trace cap and the TTL hold, Redis lost mid-run gives 503 + Retry-After for what only
 * Redis knows and records made meanwhile arrive after reconnection, and Redis unreachable at
 * start exits 2 naming the URL without its password.
 */
import assert from "node:assert/strict";
import { freePort, runIatp, startIatpService, tempDir, waitFor } from "../../helpers.ts";
import { redisMissing, startRedis, type TestRedis } from "../../support/redis.ts";
import { post, type Sidecar, startAgent, startSidecar } from "./fixtures.ts";

const ignore = redisMissing !== undefined;

interface TraceAnswer {
  status: number;
  retryAfter: string | null;
  records: Array<{ type: string; details: Record<string, unknown> }>;
}

async function trace(base: string, id: string): Promise<TraceAnswer> {
  const res = await fetch(`${base}/trace/${id}`);
  const body = await res.json();
  return {
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    records: body.records ?? [],
  };
}

/** Two in-process replicas on `redis` in front of `agentUrl`. */
async function replicas(
  redis: TestRedis,
  agentUrl: string,
  extra: Record<string, unknown> = {},
): Promise<[Sidecar, Sidecar]> {
  const config = {
    agent_url: agentUrl,
    recorder_url: redis.url,
    recorder_password: redis.password,
    ...extra,
  };
  const a = await startSidecar(config);
  const b = await startSidecar(config).catch(async (err) => {
    await a.close();
    throw err;
  });
  return [a, b];
}

Deno.test({
  name: "two launcher-run sidecars on one Redis: a trace recorded by one answers on the other",
  ignore,
  async fn() {
    const redis = await startRedis();
    const agent = startAgent();
    const dir = await tempDir();
    await Deno.writeTextFile(`${dir.path}/redis-password`, redis.password);
    const env = { IATP_DATA_DIR: dir.path, IATP_AGENT_URL: agent.url };
    const args = [
      "sidecar",
      "--port",
      "0",
      "--recorder-url",
      redis.url,
      "--recorder-password",
      `file:${dir.path}/redis-password`,
      "--recorder-trace-cap",
      "3",
    ];
    const a = await startIatpService(args, { env });
    const b = await startIatpService(args, { env }).catch(async (err) => {
      await a.stop();
      throw err;
    });
    try {
      const r = await post(a.url, { card: "4532015112830366" }, { "X-Agent-Trace-ID": "shared-1" });
      assert.equal(r.status, 200);
      let seen: TraceAnswer | undefined;
      await waitFor(
        async () => {
          seen = await trace(b.url, "shared-1");
          return seen.records.length === 2;
        },
        10_000,
        "the trace on the other replica",
      );
      assert.deepEqual(seen?.records.map((x) => x.type), ["request", "response"]);
      assert.ok(!JSON.stringify(seen).includes("4532015112830366"), "stored scrubbed");

      // Cap 3: four requests (eight records) leave the newest three.
      for (let n = 0; n < 4; n++) {
        assert.equal((await post(a.url, { n }, { "X-Agent-Trace-ID": "capped" })).status, 200);
      }
      await waitFor(
        async () => {
          seen = await trace(b.url, "capped");
          // Writes reach Redis just after the answer: wait for the last request's response.
          return seen.records.at(-1)?.type === "response" &&
            seen.records.some((x) => String(x.details.payload).includes('"n":3'));
        },
        10_000,
        "the last request and its response on the other replica",
      );
      assert.deepEqual(seen?.records.map((x) => x.type), ["response", "request", "response"]);
      assert.equal((await trace(b.url, "never-recorded")).status, 404);
      assert.doesNotMatch(a.stdout() + a.stderr() + b.stdout(), new RegExp(redis.password));
    } finally {
      await a.stop();
      await b.stop();
      await agent.close();
      await redis.stop();
      await dir.remove();
    }
  },
});

Deno.test({
  name: "shared recorder: a trace expires from Redis after recorder_ttl",
  ignore,
  async fn() {
    const redis = await startRedis();
    const agent = startAgent();
    const [a, b] = await replicas(redis, agent.url, { recorder_ttl: 1_000 });
    try {
      assert.equal((await post(a.url, {}, { "X-Agent-Trace-ID": "short-lived" })).status, 200);
      await waitFor(
        async () => (await trace(b.url, "short-lived")).status === 200,
        10_000,
        "the trace on the other replica",
      );
      await waitFor(
        async () => (await trace(b.url, "short-lived")).status === 404,
        15_000,
        "the trace to expire",
      );
    } finally {
      await a.close();
      await b.close();
      await agent.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name: "shared recorder: Redis lost gives 503 + Retry-After; records made meanwhile arrive after",
  ignore,
  async fn() {
    const redis = await startRedis();
    const agent = startAgent();
    const [a, b] = await replicas(redis, agent.url);
    try {
      await redis.kill();
      assert.equal((await post(a.url, {}, { "X-Agent-Trace-ID": "in-outage" })).status, 200);
      const down = await trace(b.url, "in-outage");
      assert.equal(down.status, 503);
      assert.ok(Number(down.retryAfter) >= 1);
      assert.equal((await trace(a.url, "in-outage")).status, 200, "the recording replica's own");
      await redis.restart();
      await waitFor(
        async () => (await trace(b.url, "in-outage")).records.length === 2,
        30_000,
        "the records held during the outage on the other replica",
      );
    } finally {
      await a.close();
      await b.close();
      await agent.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name: "shared recorder: a hung Redis answers lookups 503 after recorder_command_timeout",
  ignore,
  async fn() {
    const redis = await startRedis();
    const agent = startAgent();
    const [a, b] = await replicas(redis, agent.url, { recorder_command_timeout: 300 });
    try {
      assert.equal((await post(a.url, {}, { "X-Agent-Trace-ID": "before-hang" })).status, 200);
      await waitFor(
        async () => (await trace(b.url, "before-hang")).status === 200,
        10_000,
        "the trace on the other replica",
      );
      redis.pause();
      const hung = await trace(b.url, "before-hang");
      assert.equal(hung.status, 503);
      assert.ok(Number(hung.retryAfter) >= 1);
      redis.resume();
      await waitFor(
        async () => (await trace(b.url, "before-hang")).records.length === 2,
        15_000,
        "lookups once Redis answers again",
      );
    } finally {
      redis.resume();
      await a.close();
      await b.close();
      await agent.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name: "shared recorder: Redis unreachable at start exits 2 naming the URL without password",
  ignore,
  async fn() {
    const dir = await tempDir();
    try {
      const r = await runIatp([
        "sidecar",
        "--port",
        "0",
        "--recorder-url",
        `redis://:hunter2-secret@127.0.0.1:${freePort()}/0`,
        "--recorder-connect-timeout",
        "2s",
      ], { env: { IATP_DATA_DIR: dir.path } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /recorder_url.*redis:\/\/127\.0\.0\.1:[0-9]+\/0/);
      assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
    } finally {
      await dir.remove();
    }
  },
});
