import assert from "node:assert/strict";
import { Hono } from "hono";
import { requestId, requestIdOf } from "../../../../core/http/middleware/request_id.ts";
import type { AppEnv } from "../../../../core/http/types.ts";
import { silentLogger } from "../../../../core/log/mod.ts";

Deno.test("requestIdOf keeps a safe id and replaces anything else with a UUID", () => {
  assert.equal(requestIdOf("abc-123.x:y_z"), "abc-123.x:y_z");
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  for (const bad of [null, undefined, "", "../etc/passwd", "a b", "x".repeat(129), "é"]) {
    assert.match(requestIdOf(bad), uuid, String(bad));
  }
});

Deno.test("the middleware sets the id and logger on the context and X-Request-Id on errors too", async () => {
  const app = new Hono<AppEnv>();
  app.use("*", requestId(silentLogger));
  app.get("/ok", (c) => c.json({ id: c.get("requestId"), log: c.get("log") === silentLogger }));
  app.get("/boom", () => {
    throw new Error("x");
  });
  app.onError((_err, c) => c.json({ error: "x" }, 500));
  const ok = await app.request("/ok", { headers: { "x-request-id": "rid-1" } });
  assert.deepEqual(await ok.json(), { id: "rid-1", log: true });
  assert.equal(ok.headers.get("x-request-id"), "rid-1");
  const boom = await app.request("/boom", { headers: { "x-request-id": "rid-2" } });
  assert.equal(boom.status, 500);
  assert.equal(boom.headers.get("x-request-id"), "rid-2");
});
