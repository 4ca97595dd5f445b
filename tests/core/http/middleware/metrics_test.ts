import assert from "node:assert/strict";
import { Hono } from "hono";
import { createHttpMetrics } from "../../../../core/http/metrics.ts";
import { requestMetrics } from "../../../../core/http/middleware/metrics.ts";
import type { AppEnv } from "../../../../core/http/types.ts";

Deno.test("requests are counted by method, route pattern and status; odd methods are 'other'", async () => {
  const metrics = createHttpMetrics("t");
  const app = new Hono<AppEnv>();
  app.use("*", requestMetrics(metrics));
  app.get("/items/:id", (c) => c.json({ id: c.req.param("id") }));
  app.on("FROB", "/items/:id", (c) => c.text("frobbed"));
  await app.request("/items/1");
  await app.request("/items/2");
  await app.request("/nope");
  await app.request("/items/3", { method: "FROB" });
  const text = await metrics.registry.metrics();
  assert.match(
    text,
    /iatp_http_requests_total\{method="GET",route="\/items\/:id",status="200",service="t"\} 2/,
  );
  assert.match(
    text,
    /iatp_http_requests_total\{method="GET",route="unmatched",status="404",service="t"\} 1/,
  );
  assert.match(
    text,
    /iatp_http_requests_total\{method="other",route="\/items\/:id",status="200",service="t"\} 1/,
  );
  assert.match(
    text,
    /iatp_http_request_duration_seconds_count\{method="GET",route="\/items\/:id",status="200",service="t"\} 2/,
  );
  assert.match(text, /iatp_http_requests_in_flight\{service="t"\} 0/);
  assert.match(text, /iatp_http_connections_open\{service="t"\} 0/);
});
