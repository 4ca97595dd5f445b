import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  RateLimiter,
  requireScope,
  Scopes,
  signedAuth,
  signRequest,
  staticToken,
} from "../../../core/auth/mod.ts";
import { ReplayStore } from "../../../core/auth/replay.ts";
import { createServer } from "../../../core/http/mod.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { tempDir } from "../../helpers.ts";

const KEY = "shared-key-0123456789";

async function app(replay: ReplayStore, opts: { perMin?: number; scopes?: string } = {}) {
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log: silentLogger,
    maxBodyBytes: 1024,
  });
  const hono = await server.loadApp();
  hono.use(
    "/api/*",
    signedAuth({
      token: staticToken(KEY),
      allowedAgents: ["status-1"],
      scopes: Scopes.parse(opts.scopes ?? "docker:logs"),
      replay,
      limiter: new RateLimiter(opts.perMin ?? 100),
    }),
  );
  hono.post("/api/run", async (c) => {
    const body = await c.req.json();
    const caller = requireScope(c, `docker:${body.type}`);
    return c.json({ ok: true, by: caller.agentId });
  });
  return hono;
}

async function send(
  a: Awaited<ReturnType<typeof app>>,
  body: unknown,
  mutate: (h: Record<string, string>) => void = () => {},
  opts: { key?: string; path?: string; signPath?: string; ts?: number; agentId?: string } = {},
) {
  const text = JSON.stringify(body);
  const h = await signRequest(opts.key ?? KEY, {
    agentId: opts.agentId ?? "status-1",
    method: "POST",
    url: opts.signPath ?? opts.path ?? "/api/run",
    body: text,
    timestamp: opts.ts,
  });
  mutate(h);
  const res = await a.request(opts.path ?? "/api/run", { method: "POST", body: text, headers: h });
  return { status: res.status, body: await res.json(), headers: res.headers, sent: h };
}

Deno.test("signed requests: every rejection path answers with its status and a JSON error", async () => {
  const dir = await tempDir();
  const path = `${dir.path}/r.sqlite`;
  const replay = new ReplayStore({ path });
  const a = await app(replay);
  try {
    const ok = await send(a, { type: "logs" });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.by, "status-1");

    const unsigned = await a.request("/api/run", { method: "POST", body: "{}" });
    assert.equal(unsigned.status, 401);
    assert.equal((await unsigned.json()).reason, "unsigned");

    const bad = await send(a, { type: "logs" }, () => {}, { key: "wrong-key-000000" });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.reason, "bad_signature");

    const skewed = await send(a, { type: "logs" }, () => {}, {
      ts: Math.floor(Date.now() / 1000) - 301,
    });
    assert.deepEqual([skewed.status, skewed.body.reason], [401, "skew"]);

    const moved = await send(a, { type: "logs" }, () => {}, {
      path: "/api/run",
      signPath: "/api/other",
    });
    assert.deepEqual([moved.status, moved.body.reason], [401, "bad_signature"]);

    const stranger = await send(a, { type: "logs" }, () => {}, { agentId: "intruder" });
    assert.deepEqual([stranger.status, stranger.body.reason], [401, "unknown_agent"]);

    const scope = await send(a, { type: "restart" });
    assert.equal(scope.status, 403);
    assert.match(scope.body.error, /missing scope docker:restart/);

    const big = await send(a, { type: "logs", pad: "x".repeat(2000) });
    assert.equal(big.status, 413);

    // Replay: the same headers and body again, in this process and after a "restart".
    const first = await send(a, { type: "logs" });
    const again = await a.request("/api/run", {
      method: "POST",
      body: JSON.stringify({ type: "logs" }),
      headers: first.sent,
    });
    assert.equal(again.status, 409);
    assert.equal((await again.json()).reason, "replay");
    replay.close();
    const replay2 = new ReplayStore({ path });
    const after = await (await app(replay2)).request("/api/run", {
      method: "POST",
      body: JSON.stringify({ type: "logs" }),
      headers: first.sent,
    });
    assert.equal(after.status, 409, "replay refused after restart");
    replay2.close();
  } finally {
    replay.close();
    await dir.remove();
  }
});

Deno.test("rate limit applies after authentication only", async () => {
  const replay = new ReplayStore({ path: ":memory:" });
  const a = await app(replay, { perMin: 2 });
  try {
    // Unauthenticated noise does not use the caller's budget.
    for (let i = 0; i < 5; i++) {
      await send(a, { type: "logs" }, () => {}, { key: "wrong-key-000000" });
    }
    assert.equal((await send(a, { type: "logs" })).status, 200);
    assert.equal((await send(a, { type: "logs" })).status, 200);
    const limited = await send(a, { type: "logs" });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.reason, "rate_limited");
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  } finally {
    replay.close();
  }
});

Deno.test("replay window: shorter than twice the skew is refused; twice the skew holds at the edges", async () => {
  const skew = 300;
  const short = new ReplayStore({ path: ":memory:", ttlMs: (2 * skew - 1) * 1000 });
  assert.throws(
    () =>
      signedAuth({
        token: staticToken(KEY),
        allowedAgents: [],
        scopes: Scopes.parse("docker:logs"),
        replay: short,
        limiter: new RateLimiter(100),
        maxSkewSecs: skew,
      }),
    RangeError,
  );
  short.close();

  // Worst case: first seen when its timestamp is `skew` ahead of the clock, replayed when it is
  // `skew` behind; both instants pass the skew check, so only the replay store can refuse it.
  const ts = 1_900_000_000;
  let nowMs = (ts - skew) * 1000;
  const now = () => nowMs;
  const replay = new ReplayStore({ path: ":memory:", ttlMs: 2 * skew * 1000, now });
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log: silentLogger,
    maxBodyBytes: 1024,
  });
  const hono = await server.loadApp();
  hono.use(
    "/api/*",
    signedAuth({
      token: staticToken(KEY),
      allowedAgents: [],
      scopes: Scopes.parse("docker:logs"),
      replay,
      limiter: new RateLimiter(100),
      maxSkewSecs: skew,
      now,
    }),
  );
  hono.post("/api/run", (c) => c.json({ ok: true }));
  try {
    const h = await signRequest(KEY, {
      agentId: "a1",
      method: "POST",
      url: "/api/run",
      body: "{}",
      timestamp: ts,
    });
    const post = () => hono.request("/api/run", { method: "POST", body: "{}", headers: h });
    assert.equal((await post()).status, 200);
    nowMs = (ts + skew) * 1000;
    const again = await post();
    assert.equal(again.status, 409, "replayed at the far edge of the skew window");
    assert.equal((await again.json()).reason, "replay");
    nowMs += 1000;
    assert.equal((await post()).status, 401, "past the window the timestamp is refused");
  } finally {
    replay.close();
  }
});

Deno.test("a replay store that cannot record (disk full, locked) refuses with 503, not 500", async () => {
  const dir = await tempDir();
  const path = `${dir.path}/r.sqlite`;
  const replay = new ReplayStore({ path });
  const holder = new DatabaseSync(path);
  try {
    holder.exec("BEGIN EXCLUSIVE"); // every write of the store now fails, as on a full disk
    const r = await send(await app(replay), { type: "logs" });
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.reason, "replay_unavailable");
    assert.ok(r.headers.get("retry-after"), "a retry hint");
    holder.exec("COMMIT");
    assert.equal(
      (await send(await app(replay), { type: "logs" })).status,
      200,
      "served once it can",
    );
  } finally {
    holder.close();
    replay.close();
    await dir.remove();
  }
});
