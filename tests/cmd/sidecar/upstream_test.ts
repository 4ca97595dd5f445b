import assert from "node:assert/strict";
import { upstreamPath } from "../../../cmd/sidecar/proxy.ts";
import { UpstreamError, UpstreamPool } from "../../../cmd/sidecar/upstream.ts";

const enc = new TextEncoder();

/** A raw TCP server: `reply(requestCount)` returns the bytes to send per request (or "close"). */
function rawServer(reply: (n: number) => Uint8Array | string | "close" | "hang") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let n = 0;
  let connections = 0;
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      connections++;
      conns.add(conn);
      (async () => {
        const buf = new Uint8Array(64 * 1024);
        try {
          for (;;) {
            const got = await conn.read(buf);
            if (got === null) break;
            const r = reply(n++);
            if (r === "hang") continue;
            if (r === "close") break;
            const bytes = typeof r === "string" ? enc.encode(r) : r;
            let off = 0;
            while (off < bytes.length) off += await conn.write(bytes.subarray(off));
          }
        } catch { /* peer went away */ }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    origin: new URL(`http://127.0.0.1:${port}`),
    get connections() {
      return connections;
    },
    close() {
      try {
        listener.close();
      } catch { /* closed already */ }
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

async function text(
  body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null,
): Promise<string> {
  return body === null ? "" : await new Response(body).text();
}

const ok = (body: string, extra = "") =>
  `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`;

Deno.test("keep-alive: one connection carries many requests", async () => {
  const srv = rawServer((n) => ok(`r${n}`));
  const pool = new UpstreamPool(srv.origin);
  try {
    for (let i = 0; i < 5; i++) {
      const r = await pool.request("/x", [["x-a", "1"]], enc.encode("{}"), 5000);
      assert.equal(r.status, 200);
      assert.equal(r.contentType, "text/plain");
      assert.equal(await text(r.body), `r${i}`);
    }
    assert.equal(srv.connections, 1);
  } finally {
    pool.close();
    srv.close();
  }
});

Deno.test("chunked, large and close-delimited bodies stream through intact", async () => {
  const big = "y".repeat(600_000);
  const srv = rawServer((n) => {
    if (n === 0) {
      return "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n";
    }
    if (n === 1) return ok(big);
    if (n === 2) return "HTTP/1.1 100 Continue\r\n\r\n" + ok("after-continue");
    return "HTTP/1.0 200 OK\r\n\r\nuntil-eof";
  });
  const pool = new UpstreamPool(srv.origin);
  try {
    const a = await pool.request("/", [], enc.encode("{}"), 5000);
    assert.equal(a.status, 201);
    assert.equal(await text(a.body), "hello world");
    const b = await pool.request("/", [], enc.encode("{}"), 5000);
    assert.ok(b.body instanceof ReadableStream, "a large body streams");
    assert.equal((await text(b.body)).length, big.length);
    const c = await pool.request("/", [], enc.encode("{}"), 5000);
    assert.equal(await text(c.body), "after-continue");
    assert.equal(srv.connections, 1, "all on one keep-alive connection");
    const d = await pool.request("/", [], enc.encode("{}"), 5000);
    const pending = text(d.body);
    srv.close(); // HTTP/1.0 without length: the body ends when the server closes
    assert.equal(await pending, "until-eof");
  } finally {
    pool.close();
    srv.close();
  }
});

Deno.test("a stale pooled connection is retried once on a fresh one", async () => {
  const srv = rawServer((n) => (n === 1 ? "close" : ok(`r${n}`)));
  const pool = new UpstreamPool(srv.origin);
  try {
    assert.equal(await text((await pool.request("/", [], enc.encode("{}"), 5000)).body), "r0");
    // The server drops the idle connection on the next request without answering.
    assert.equal(await text((await pool.request("/", [], enc.encode("{}"), 5000)).body), "r2");
    assert.equal(srv.connections, 2);
  } finally {
    pool.close();
    srv.close();
  }
});

Deno.test("timeouts, refused connections and garbage become typed errors", async () => {
  const hang = rawServer(() => "hang");
  const garbage = rawServer(() => "SMTP ready\r\n\r\n");
  const huge = rawServer(() => "HTTP/1.1 200 OK\r\n" + "x-pad: y\r\n".repeat(10_000));
  const pool = new UpstreamPool(hang.origin);
  try {
    await assert.rejects(
      pool.request("/", [], enc.encode("{}"), 200),
      (e) => e instanceof UpstreamError && e.kind === "timeout",
    );
    const refused = new UpstreamPool(new URL("http://127.0.0.1:9"));
    await assert.rejects(
      refused.request("/", [], enc.encode("{}"), 2000),
      (e) => e instanceof UpstreamError && e.kind === "connect",
    );
    const g = new UpstreamPool(garbage.origin);
    await assert.rejects(
      g.request("/", [], enc.encode("{}"), 2000),
      (e) => e instanceof UpstreamError && e.kind === "protocol",
    );
    const h = new UpstreamPool(huge.origin);
    await assert.rejects(h.request("/", [], enc.encode("{}"), 5000), /too large/);
    g.close();
    h.close();
  } finally {
    pool.close();
    hang.close();
    garbage.close();
    huge.close();
  }
});

Deno.test("upstream path joins the agent URL path and the proxied rest", () => {
  const u = (s: string) => new URL(s, "http://sidecar");
  assert.equal(upstreamPath("/", u("/proxy")), "/");
  assert.equal(upstreamPath("/api", u("/proxy")), "/api");
  assert.equal(upstreamPath("/api", u("/proxy/")), "/api/");
  assert.equal(upstreamPath("/api/", u("/proxy/v1/x?q=1")), "/api/v1/x?q=1");
  assert.equal(upstreamPath("/", u("/proxy/a?b=c")), "/a?b=c");
});
