import assert from "node:assert/strict";
import { HttpError } from "../../../core/errors/mod.ts";
import { createServer } from "../../../core/http/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";

function setup(opts: { maxBodyBytes?: number; drainTimeoutMs?: number } = {}) {
  const lines: string[] = [];
  const log = createLogger({ service: "t", sink: (l) => lines.push(l) });
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log, ...opts });
  // A handler that answers only when the test releases it, and says when a request reached it.
  const slow = { arrived: Promise.withResolvers<void>(), release: Promise.withResolvers<void>() };
  server.routes((app) => {
    app.get("/items/:id", (c) => c.json({ id: c.req.param("id") }));
    app.post("/echo", async (c) => c.json({ size: (await c.req.arrayBuffer()).byteLength }));
    app.get("/teapot", () => {
      throw new HttpError(418, "short and stout", { spout: true });
    });
    app.get("/boom", () => {
      throw new Error("secret internals Bearer abcdef123456");
    });
    app.get("/slow", async (c) => {
      slow.arrived.resolve();
      await slow.release.promise;
      return c.json({ done: true });
    });
  });
  return { server, lines, slow };
}

Deno.test("health, ready and metrics over a real socket", async () => {
  const { server } = setup();
  const svc = await server.listen();
  try {
    const health = await fetch(`${svc.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok", service: "t" });
    const ready = await fetch(`${svc.url}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true });
    await (await fetch(`${svc.url}/items/42`)).body?.cancel();
    await (await fetch(`${svc.url}/nope`)).body?.cancel();
    const metrics = await fetch(`${svc.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type") ?? "", /text\/plain/);
    const text = await metrics.text();
    assert.match(text, /# TYPE iatp_http_requests_total counter/);
    assert.match(
      text,
      /iatp_http_requests_total\{method="GET",route="\/items\/:id",status="200",service="t"\} 1/,
    );
    assert.match(text, /route="unmatched",status="404"/);
    assert.match(text, /iatp_http_request_duration_seconds_bucket\{[^}]*le="0.005"\} \d+/);
    assert.match(text, /process_resident_memory_bytes\{service="t"\} \d+/);
  } finally {
    await svc.close();
  }
});

Deno.test("the built-in routes answer without loading the app; the first other request loads it once", async () => {
  const log = createLogger({ service: "t", sink: () => {} });
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log });
  let registered = 0;
  server.routes((app) => {
    registered++;
    app.get("/hi", (c) => c.text("hi"));
  });
  const svc = await server.listen();
  try {
    for (const path of ["/health", "/ready", "/metrics", "/health?probe=1"]) {
      const r = await fetch(`${svc.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.ok(r.headers.get("x-request-id"), `${path} carries a request id`);
      await r.body?.cancel();
    }
    assert.equal(registered, 0, "no route registration ran for the built-in routes");
    const [a, b] = await Promise.all([fetch(`${svc.url}/hi`), fetch(`${svc.url}/nope`)]);
    assert.equal(await a.text(), "hi");
    assert.equal(b.status, 404);
    await b.body?.cancel();
    const head = await fetch(`${svc.url}/health`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(registered, 1, "the app was built once");
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    assert.match(
      text,
      /iatp_http_requests_total\{method="GET",route="\/health",status="200",service="t"\} 2/,
    );
    assert.match(
      text,
      /iatp_http_requests_total\{method="HEAD",route="\/health",status="200",service="t"\} 1/,
    );
  } finally {
    await svc.close();
  }
});

Deno.test("404 and 405 use the JSON envelope with the request id", async () => {
  const { server } = setup();
  const svc = await server.listen();
  try {
    const nf = await fetch(`${svc.url}/missing`);
    assert.equal(nf.status, 404);
    const body = await nf.json();
    assert.equal(body.error, "not found");
    assert.equal(body.request_id, nf.headers.get("x-request-id"));
    const na = await fetch(`${svc.url}/items/1`, { method: "DELETE" });
    assert.equal(na.status, 405);
    assert.equal(na.headers.get("allow"), "GET, HEAD"); // RFC 9110 9.3.2: HEAD goes wherever GET does
    assert.equal((await na.json()).error, "method not allowed");
  } finally {
    await svc.close();
  }
});

Deno.test("thrown HttpError keeps status and extra fields; unknown errors are opaque 500s", async () => {
  const { server, lines } = setup();
  const svc = await server.listen();
  try {
    const tp = await fetch(`${svc.url}/teapot`);
    assert.equal(tp.status, 418);
    const tb = await tp.json();
    assert.equal(tb.error, "short and stout");
    assert.equal(tb.spout, true);
    const boom = await fetch(`${svc.url}/boom`);
    assert.equal(boom.status, 500);
    const text = await boom.text();
    assert.ok(!text.includes("secret internals"), text);
    assert.equal(JSON.parse(text).error, "internal error");
    assert.ok(lines.some((l) => l.includes("unhandled error")));
    assert.ok(!lines.some((l) => l.includes("abcdef123456")), "bearer token leaked to the log");
  } finally {
    await svc.close();
  }
});

Deno.test("request ids: a safe incoming one is kept, an unsafe one replaced", async () => {
  const { server } = setup();
  const svc = await server.listen();
  try {
    const kept = await fetch(`${svc.url}/health`, { headers: { "x-request-id": "abc-123.x" } });
    await kept.body?.cancel();
    assert.equal(kept.headers.get("x-request-id"), "abc-123.x");
    const replaced = await fetch(`${svc.url}/health`, {
      headers: { "x-request-id": "../../etc/passwd" },
    });
    await replaced.body?.cancel();
    assert.match(replaced.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  } finally {
    await svc.close();
  }
});

Deno.test("body limit: 413 envelope for declared and for chunked bodies", async () => {
  const { server } = setup({ maxBodyBytes: 1000 });
  const svc = await server.listen();
  try {
    const ok = await fetch(`${svc.url}/echo`, { method: "POST", body: "x".repeat(1000) });
    assert.deepEqual(await ok.json(), { size: 1000 });
    const big = await fetch(`${svc.url}/echo`, { method: "POST", body: "x".repeat(1001) });
    assert.equal(big.status, 413);
    const body = await big.json();
    assert.match(body.error, /exceeds 1000 bytes/);
    assert.ok(body.request_id);
    const stream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        for (let i = 0; i < 5; i++) ctrl.enqueue(new Uint8Array(400));
        ctrl.close();
      },
    });
    const chunked = await fetch(`${svc.url}/echo`, { method: "POST", body: stream });
    assert.equal(chunked.status, 413);
    await chunked.body?.cancel();
  } finally {
    await svc.close();
  }
});

Deno.test("drain: a slow in-flight request completes during shutdown; ready turns 503", async () => {
  const { server, slow } = setup({ drainTimeoutMs: 10_000 });
  let readyDuringDrain = 0;
  server.onDrain(async () => {
    const r = await (await server.loadApp()).request("/ready");
    readyDuringDrain = r.status;
    slow.release.resolve(); // the in-flight request finishes once draining has begun
  });
  const svc = await server.listen();
  const inflight = fetch(`${svc.url}/slow`);
  await slow.arrived.promise;
  const closing = svc.close();
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { done: true });
  await closing;
  assert.equal(readyDuringDrain, 503);
  await assert.rejects(fetch(`${svc.url}/health`));
});

Deno.test("drain deadline: close() returns even when a request outlives it", async () => {
  const { server, lines, slow } = setup({ drainTimeoutMs: 200 });
  const svc = await server.listen();
  const ctl = new AbortController();
  const inflight = fetch(`${svc.url}/slow`, { signal: ctl.signal }).catch(() => null);
  await slow.arrived.promise;
  await svc.close(); // the handler never answers: close() returns at the drain deadline
  assert.ok(lines.some((l) => l.includes("drain deadline exceeded")));
  ctl.abort();
  await inflight;
  slow.release.resolve(); // the abandoned handler ends, so the test leaks nothing
});

Deno.test("listening on 0.0.0.0: the line keeps the connectable url and names the bound address", async () => {
  for (const [host, address] of [["0.0.0.0", true], ["127.0.0.1", false]] as const) {
    const lines: string[] = [];
    const log = createLogger({ service: "t", sink: (l) => lines.push(l) });
    const svc = await createServer({ service: "t", host, port: 0, log }).listen();
    try {
      const port = new URL(svc.url).port;
      assert.equal(svc.url, `http://127.0.0.1:${port}`);
      const line = lines.map((l) => JSON.parse(l)).find((r) => r.msg === "listening");
      const fields = address ? { url: svc.url, address: `0.0.0.0:${port}` } : { url: svc.url };
      assert.deepEqual(line?.fields, fields, host);
      const r = await fetch(`${svc.url}/health`);
      assert.equal(r.status, 200);
      await r.body?.cancel();
    } finally {
      await svc.close();
    }
  }
});

Deno.test("metricsCheck guards the JSON snapshot and the Prometheus text on the raw path and in the app; health and ready stay open", async () => {
  const log = createLogger({ service: "t", sink: () => {} });
  const seen: Array<[string, string | null]> = [];
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log,
    metricsJson: () => ({ secret_gauge: 42 }),
    metricsCheck: (target, authorization) => {
      seen.push([target, authorization]);
      if (authorization === null) throw new HttpError(401, "who are you", { reason: "none" });
      if (authorization !== "Bearer good") throw new HttpError(403, "not you");
    },
  });
  const svc = await server.listen();
  const json = { accept: "application/json" };
  try {
    // The raw path (GET /metrics) and the app (HEAD, a percent-escaped path) alike.
    for (const path of ["/metrics?x=1", "/%6Detrics"]) {
      const none = await fetch(`${svc.url}${path}`, { headers: json });
      assert.equal(none.status, 401, path);
      assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="iatp"', path);
      const body = await none.json();
      assert.equal(body.error, "who are you");
      assert.equal(body.reason, "none");
      assert.equal(body.request_id, none.headers.get("x-request-id"));
      assert.doesNotMatch(JSON.stringify(body), /secret_gauge/);
      const wrong = await fetch(`${svc.url}${path}`, {
        headers: { ...json, authorization: "Bearer bad" },
      });
      assert.equal(wrong.status, 403, path);
      assert.equal(wrong.headers.get("www-authenticate"), null);
      assert.equal((await wrong.json()).error, "not you");
      const ok = await fetch(`${svc.url}${path}`, {
        headers: { ...json, authorization: "Bearer good" },
      });
      assert.equal(ok.status, 200, path);
      assert.deepEqual(await ok.json(), { secret_gauge: 42 });
    }
    const head = await fetch(`${svc.url}/metrics`, { method: "HEAD", headers: json });
    assert.equal(head.status, 401);
    assert.equal(seen[0][0], "/metrics?x=1", "the raw path passes the request-target");
    assert.match(seen.at(-1)![0], /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, "the app, the URL");
    // The Prometheus text is checked the same way; /health and /ready are not.
    const text = await fetch(`${svc.url}/metrics`);
    assert.equal(text.status, 401);
    assert.doesNotMatch(await text.text(), /http_requests|secret_gauge/);
    const textOk = await fetch(`${svc.url}/metrics`, { headers: { authorization: "Bearer good" } });
    assert.equal(textOk.status, 200);
    assert.match(textOk.headers.get("content-type") ?? "", /^text\/plain/);
    await textOk.body?.cancel();
    const before = seen.length;
    for (const path of ["/health", "/ready"]) {
      const r = await fetch(`${svc.url}${path}`);
      assert.equal(r.status, 200, path);
      await r.body?.cancel();
    }
    assert.equal(seen.length, before);
  } finally {
    await svc.close();
  }
});
