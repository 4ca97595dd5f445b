import assert from "node:assert/strict";
import type { FastRoute } from "../../../core/http/mod.ts";
import { targetPathOf } from "../../../core/http/fast_path.ts";
import { createServer } from "../../../core/http/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";

function setup() {
  const lines: string[] = [];
  const log = createLogger({ service: "t", sink: (l) => lines.push(l) });
  const seen: string[] = [];
  const route: FastRoute = {
    route: "/fast/*",
    handle: (req, requestId) => {
      seen.push(requestId);
      if (req.headers.get("x-boom")) throw new Error("kaput");
      return new Response("fast", { status: 201 });
    },
  };
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log,
    fastPath: (req, path) => req.method === "POST" && path.startsWith("/fast/") ? route : undefined,
  });
  server.app.post("/fast/*", (c) => c.text("hono"));
  return { server, lines, seen };
}

Deno.test("a fast route gets the request id, metrics and the error envelope", async () => {
  const { server, lines, seen } = setup();
  const svc = await server.listen();
  try {
    const r = await fetch(`${svc.url}/fast/a?q=1`, {
      method: "POST",
      headers: { "x-request-id": "rid-1" },
    });
    assert.equal(r.status, 201);
    assert.equal(await r.text(), "fast");
    assert.equal(r.headers.get("x-request-id"), "rid-1");
    assert.deepEqual(seen, ["rid-1"]);
    const bad = await fetch(`${svc.url}/fast/b`, { method: "POST", headers: { "x-boom": "1" } });
    assert.equal(bad.status, 500);
    const body = await bad.json();
    assert.equal(body.error, "internal error");
    assert.equal(body.request_id, bad.headers.get("x-request-id"));
    assert.match(bad.headers.get("content-type") ?? "", /application\/json/);
    assert.ok(lines.some((l) => l.includes("unhandled error")));
    // The fast path sees the path as sent (escapes kept); other methods go through Hono.
    const escaped = await fetch(`${svc.url}/fast/%61`, { method: "POST" });
    assert.equal(await escaped.text(), "fast");
    const get = await fetch(`${svc.url}/fast/a`);
    assert.equal(get.status, 405);
    await get.body?.cancel();
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    assert.match(
      text,
      /iatp_http_requests_total\{method="POST",route="\/fast\/\*",status="201",service="t"\} 2/,
    );
    assert.match(
      text,
      /iatp_http_requests_total\{method="POST",route="\/fast\/\*",status="500",service="t"\} 1/,
    );
    assert.match(
      text,
      /iatp_http_request_duration_seconds_count\{method="POST",route="\/fast\/\*",status="201",service="t"\} 2/,
    );
    assert.match(
      text,
      /iatp_http_requests_in_flight\{service="t"\} 1/,
      "only /metrics itself in flight",
    );
  } finally {
    await svc.close();
  }
});

Deno.test("targetPathOf reads the path exactly as sent: escapes and dot segments kept", () => {
  assert.equal(targetPathOf("http://h:1/proxy?x=%41"), "/proxy");
  assert.equal(targetPathOf("/proxy/a/b"), "/proxy/a/b");
  assert.equal(targetPathOf("http://[::1]:1/"), "/");
  assert.equal(targetPathOf("/prox%79"), "/prox%79");
  assert.equal(targetPathOf("/proxy/../x?y"), "/proxy/../x");
});
