import assert from "node:assert/strict";
import { Hono } from "hono";
import { z } from "zod";
import { HttpError } from "../../../../core/errors/mod.ts";
import {
  errorBody,
  errorEnvelope,
  jsonResponse,
  notFound,
  onError,
} from "../../../../core/http/middleware/envelope.ts";
import { requestId } from "../../../../core/http/middleware/request_id.ts";
import type { AppEnv } from "../../../../core/http/types.ts";
import { createLogger } from "../../../../core/log/mod.ts";

Deno.test("errorEnvelope: typed errors keep status and fields; unknown ones are logged 500s", () => {
  const lines: string[] = [];
  const log = createLogger({ service: "t", sink: (l) => lines.push(l) });
  assert.deepEqual(errorEnvelope(new HttpError(418, "teapot", { spout: 1 }), "r", log, "/p"), {
    status: 418,
    body: { error: "teapot", request_id: "r", spout: 1 },
  });
  const zod = z.object({ a: z.string() }).safeParse({ a: 1 });
  const v = errorEnvelope(zod.error, "r", log, "/p");
  assert.equal(v.status, 400);
  assert.equal(v.body.error, "invalid request");
  assert.deepEqual((v.body.issues as Array<{ path: string }>)[0].path, "a");
  assert.deepEqual(errorEnvelope(new SyntaxError("bad json"), "r", log, "/p").body, {
    error: "invalid JSON body",
    request_id: "r",
  });
  assert.equal(lines.length, 0, "expected errors are not logged");
  const internal = errorEnvelope(new Error("secret Bearer abcdef123456"), "r", log, "/p");
  assert.deepEqual(internal, { status: 500, body: { error: "internal error", request_id: "r" } });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("abcdef123456"), "the log is scrubbed");
});

Deno.test("jsonResponse and the Hono handlers answer with the envelope", async () => {
  const r = jsonResponse(404, errorBody("not found", "rid"), [["x-a", "1"]]);
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.equal(r.headers.get("x-a"), "1");
  assert.deepEqual(await r.json(), { error: "not found", request_id: "rid" });

  const app = new Hono<AppEnv>();
  app.use("*", requestId(createLogger({ service: "t", sink: () => {} })));
  app.get("/t", () => {
    throw new HttpError(409, "taken", { id: 7 });
  });
  app.notFound(notFound);
  app.onError(onError);
  const nf = await app.request("/missing", { headers: { "x-request-id": "a1" } });
  assert.equal(nf.status, 404);
  assert.deepEqual(await nf.json(), { error: "not found", request_id: "a1" });
  const t = await app.request("/t", { headers: { "x-request-id": "a2" } });
  assert.equal(t.status, 409);
  assert.deepEqual(await t.json(), { error: "taken", request_id: "a2", id: 7 });
});
