/**
 * Every answer a service makes itself carries `X-Content-Type-Options: nosniff` and
 * `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`: the raw path's built-in
 * routes and its error envelope, the app's routes, 404, 405, thrown errors, trailing-slash
 * redirects, the body limit's 413 and the edge's own refusals. A route that sets a policy of its
 * own keeps it; one whose answer is passed on as it came gets neither field.
 * @module
 */
import assert from "node:assert/strict";
import { HttpError } from "../../../core/errors/mod.ts";
import { createServer } from "../../../core/http/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";

const CSP = "default-src 'none'; frame-ancestors 'none'";

function assertSafe(res: Response, what: string): void {
  assert.equal(res.headers.get("x-content-type-options"), "nosniff", what);
  assert.equal(res.headers.get("content-security-policy"), CSP, what);
}

async function started() {
  const log = createLogger({ service: "t", sink: () => {} });
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log, maxBodyBytes: 64 });
  server.routes((app) => {
    app.get("/items/:id", (c) => c.json({ id: c.req.param("id") }));
    app.post("/echo", async (c) => c.json({ size: (await c.req.arrayBuffer()).byteLength }));
    app.get("/teapot", () => {
      throw new HttpError(418, "short and stout");
    });
    app.get("/boom", () => {
      throw new Error("internals");
    });
    app.get("/page", (c) => {
      c.header("content-security-policy", "default-src 'self'");
      return c.html("<p>page</p>");
    });
    app.get("/passed-on", (c) => {
      c.set("passedOn", true);
      return new Response("as it came", { headers: { "content-type": "text/html" } });
    });
  });
  return await server.listen();
}

Deno.test("the raw path's built-in routes and the app's answers, errors and redirects carry both fields", async () => {
  const svc = await started();
  try {
    const cases: Array<[string, RequestInit, number]> = [
      ["/health", {}, 200],
      ["/ready", {}, 200],
      ["/metrics", {}, 200],
      ["/metrics", { headers: { accept: "application/json" } }, 200],
      ["/health", { method: "HEAD" }, 200],
      ["/items/1", {}, 200],
      ["/nope", {}, 404],
      ["/items/1", { method: "DELETE" }, 405],
      ["/teapot", {}, 418],
      ["/boom", {}, 500],
      ["/health/", { redirect: "manual" }, 301],
      ["/echo/", { method: "POST", body: "{}", redirect: "manual" }, 307],
      ["/echo", { method: "POST", body: "x".repeat(100) }, 413],
    ];
    for (const [path, init, status] of cases) {
      const res = await fetch(`${svc.url}${path}`, init);
      await res.body?.cancel();
      assert.equal(res.status, status, `${init.method ?? "GET"} ${path}`);
      assertSafe(res, `${init.method ?? "GET"} ${path}`);
    }
    const page = await fetch(`${svc.url}/page`);
    await page.body?.cancel();
    assert.equal(page.headers.get("content-security-policy"), "default-src 'self'");
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
    const passed = await fetch(`${svc.url}/passed-on`);
    await passed.body?.cancel();
    assert.equal(passed.headers.get("x-content-type-options"), null);
    assert.equal(passed.headers.get("content-security-policy"), null);
  } finally {
    await svc.close();
  }
});

Deno.test("the edge's own refusal of a malformed request carries both fields", async () => {
  const svc = await started();
  try {
    const { hostname, port } = new URL(svc.url);
    const conn = await Deno.connect({ hostname, port: Number(port) });
    await conn.write(new TextEncoder().encode("GARBAGE\r\n\r\n"));
    let text = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    conn.close();
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.match(text, /\r\nx-content-type-options: nosniff\r\n/i);
    assert.ok(text.toLowerCase().includes(`\r\ncontent-security-policy: ${CSP}\r\n`), text);
  } finally {
    await svc.close();
  }
});
