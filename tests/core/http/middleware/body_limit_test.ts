import assert from "node:assert/strict";
import { Hono } from "hono";
import { bodyLimit } from "../../../../core/http/middleware/body_limit.ts";
import { onError } from "../../../../core/http/middleware/envelope.ts";
import type { AppEnv } from "../../../../core/http/types.ts";

function app(exempt?: (p: string) => boolean) {
  const a = new Hono<AppEnv>();
  a.use("*", bodyLimit({ maxBytes: 10, exempt }));
  a.post("*", async (c) => c.json({ n: (await c.req.arrayBuffer()).byteLength }));
  a.onError(onError);
  return a;
}

function stream(n: number): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(new Uint8Array(n));
      c.close();
    },
  });
}

Deno.test("a declared length over the limit is 413 before the body is read", async () => {
  const r = await app().request("/x", {
    method: "POST",
    body: stream(11),
    headers: { "content-length": "11" },
  });
  assert.equal(r.status, 413);
  assert.deepEqual(await r.json(), {
    error: "request body exceeds 10 bytes",
    request_id: "",
    limit_bytes: 10,
  });
  const ok = await app().request("/x", { method: "POST", body: "0123456789" });
  assert.deepEqual(await ok.json(), { n: 10 });
});

Deno.test("an undeclared body (not from the edge) is counted while read", async () => {
  const r = await app().request("/x", { method: "POST", body: stream(11) });
  assert.equal(r.status, 413);
});

Deno.test("exempt paths are left to their handler", async () => {
  const r = await app((p) => p === "/own").request("/own", { method: "POST", body: stream(50) });
  assert.deepEqual(await r.json(), { n: 50 });
});
