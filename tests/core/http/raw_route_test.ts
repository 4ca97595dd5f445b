/**
 * Raw routes (served from the parsed head, no fetch Request or Response): the request id,
 * metrics and error envelope every route gets, and the connection's framing on the wire:
 * Content-Length bodies in pieces, chunked bodies, 413/400 for bodies over the limit or cut
 * short, 100-continue, keep-alive and pipelining, streamed answers (chunked, or
 * close-delimited for HTTP/1.0), and header fields that cannot be written (RFC 9112).
 * @module
 */
import assert from "node:assert/strict";
import { createServer, type RawRoute } from "../../../core/http/mod.ts";
import { targetPathOf } from "../../../core/http/raw_route.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { header, json, RawConn } from "../../support/raw_http.ts";

const enc = new TextEncoder();
const portOf = (url: string) => Number(new URL(url).port);

/** A stream of three parts, each enqueued once the previous one was read. */
function parts(): ReadableStream<Uint8Array> {
  let n = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      await Promise.resolve();
      if (++n > 3) ctrl.close();
      else ctrl.enqueue(enc.encode(`part${n};`));
    },
  });
}

/** Resolved when the `/fast/now` route has looked for its body. */
let nowReached: PromiseWithResolvers<void> | undefined;

function setup(opts: { maxBodyBytes?: number } = {}) {
  const lines: string[] = [];
  const log = createLogger({ service: "t", sink: (l) => lines.push(l) });
  const seen: string[] = [];
  const route: RawRoute = {
    route: "/fast/*",
    async serve(req, requestId) {
      seen.push(requestId);
      if (req.header("x-boom")) throw new Error("kaput");
      if (req.header("x-bad-field")) {
        return { status: 200, headers: [["x-split", "a\r\nx-injected: 1"]], body: "no" };
      }
      const path = targetPathOf(req.target);
      if (path === "/fast/shape") {
        // Fields the writer owns, in any case, a Date of the handler's, and sizes around the
        // bound of a head and body written from one pooled buffer.
        const size = Number(req.header("x-size") ?? 0);
        const headers: Array<[string, string]> = [
          ["Content-Length", "999"],
          ["TRANSFER-ENCODING", "chunked"],
          ["Keep-Alive", "timeout=1"],
          ["X-Pad", "p".repeat(Number(req.header("x-pad") ?? 0))],
        ];
        if (req.header("x-date")) headers.push(["Date", "Tue, 01 Jan 2030 00:00:00 GMT"]);
        const status = Number(req.header("x-status") ?? 200);
        return { status, headers, body: enc.encode("b".repeat(size)) };
      }
      if (path === "/fast/now") {
        const limit = Number(req.header("x-limit") ?? 1 << 20);
        const now = req.bodyNow?.(limit);
        nowReached?.resolve();
        const body = now ?? await req.body(limit);
        const again = req.bodyNow?.(limit);
        const out = { now: now !== undefined, len: body.length, again: again !== undefined };
        return { status: 200, headers: [], body: JSON.stringify(out) };
      }
      if (path === "/fast/fields") {
        const body = new TextDecoder().decode(await req.body(1 << 20));
        const fields = req.headers.map(([n, v]) => `${n}=${v}`);
        return { status: 200, headers: [], body: JSON.stringify({ fields, body }) };
      }
      if (path === "/fast/ended") {
        // An answer whose route read the clock already: the latency metric ends where it says
        // (here 5 s ahead, so the histogram's sum tells which end it took).
        return { status: 202, headers: [], body: "", endedAt: performance.now() + 5_000 };
      }
      if (path === "/fast/stream") {
        return { status: 200, headers: [["content-type", "text/plain"]], body: parts() };
      }
      if (path === "/fast/echo") {
        const body = await req.body(Number(req.header("x-limit") ?? 1 << 20));
        return {
          status: 200,
          headers: [["content-type", "application/json"]],
          body: JSON.stringify({ len: body.length, text: new TextDecoder().decode(body) }),
        };
      }
      return { status: 201, headers: [], body: "fast" };
    },
  };
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log,
    ...opts,
    rawRoutes: (method, path) => method === "POST" && path.startsWith("/fast/") ? route : undefined,
  });
  server.routes((app) => {
    app.post("/fast/*", (c) => c.text("hono"));
  });
  return { server, lines, seen };
}

const POST = (path: string, body: string, extra = "") =>
  `POST ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`;

Deno.test("a raw route gets the request id, metrics and the error envelope", async () => {
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
    // The raw path sees the path as sent (escapes kept); other methods go through Hono.
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

Deno.test("a raw answer's endedAt ends its latency metric (no second clock read)", async () => {
  const { server } = setup();
  const svc = await server.listen();
  try {
    const r = await fetch(`${svc.url}/fast/ended`, { method: "POST" });
    assert.equal(r.status, 202);
    await r.body?.cancel();
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const sum =
      /iatp_http_request_duration_seconds_sum\{method="POST",route="\/fast\/\*",status="202",service="t"\} ([\d.e+-]+)/
        .exec(text);
    assert.ok(sum, "the 202's latency series");
    const seconds = Number(sum[1]);
    assert.ok(seconds >= 4.9 && seconds < 6, `latency ${seconds} s ends at the answer's endedAt`);
  } finally {
    await svc.close();
  }
});

Deno.test("a header field that cannot be written is a 500 envelope, never a split head", async () => {
  const { server } = setup();
  const svc = await server.listen();
  const c = await RawConn.open(portOf(svc.url));
  try {
    await c.write(POST("/fast/x", "", "X-Bad-Field: 1\r\n") + POST("/fast/x", ""));
    const r = await c.read();
    assert.equal(r?.status, 500);
    assert.equal(header(r!, "x-injected"), undefined);
    assert.equal(header(r!, "x-split"), undefined);
    // The connection carries on.
    assert.equal((await c.read())?.status, 201);
  } finally {
    c.close();
    await svc.close();
  }
});

Deno.test("raw bodies: pieces, chunked, keep-alive and pipelining on one connection", async () => {
  const { server } = setup();
  const svc = await server.listen();
  const c = await RawConn.open(portOf(svc.url));
  try {
    // A Content-Length body that arrives after the head, in two pieces.
    await c.write("POST /fast/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nhello");
    await c.write("world");
    const r = await c.read();
    assert.equal(r?.status, 200);
    assert.equal(r?.framing, "length");
    assert.deepEqual(json(r!), { len: 10, text: "helloworld" });
    assert.equal(header(r!, "connection"), undefined);
    // Chunked with an extension and a trailer, then two pipelined requests.
    await c.write(
      "POST /fast/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n" +
        POST("/fast/echo", '{"x":1}') + POST("/fast/a", "unread"),
    );
    assert.deepEqual(json((await c.read())!), { len: 5, text: "abcde" });
    assert.deepEqual(json((await c.read())!), { len: 7, text: '{"x":1}' });
    const unread = await c.read();
    assert.equal(unread?.status, 201, "a body the route never read is skipped");
    assert.equal(unread?.body, "fast");
    await c.write(POST("/fast/echo", "again"));
    assert.deepEqual(json((await c.read())!), { len: 5, text: "again" });
  } finally {
    c.close();
    await svc.close();
  }
});

Deno.test("bodyNow: the body at once when it is here and within the limit, else body() reads it", async () => {
  const { server } = setup();
  const svc = await server.listen();
  const c = await RawConn.open(portOf(svc.url));
  try {
    await c.write(POST("/fast/now", "0123456789"));
    assert.deepEqual(json((await c.read())!), { now: true, len: 10, again: false });
    // The head alone: the body is sent once the route has looked for it.
    nowReached = Promise.withResolvers();
    await c.write("POST /fast/now HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n");
    await nowReached.promise;
    await c.write("abcdefghij");
    assert.deepEqual(json((await c.read())!), { now: false, len: 10, again: false });
    // Here but over the route's limit: not taken, and body() refuses it.
    await c.write(POST("/fast/now", "0123456789", "X-Limit: 4\r\n"));
    const over = await c.read();
    assert.equal(over?.status, 413);
  } finally {
    nowReached = undefined;
    c.close();
    await svc.close();
  }
});

Deno.test("a head sent again on one connection is read as sent every time", async () => {
  const { server } = setup();
  const svc = await server.listen();
  const c = await RawConn.open(portOf(svc.url));
  const fields = (
    tag: string,
    more = "",
  ) => ["host=localhost", `x-tag=${tag}`, ...(more ? [more] : [])];
  try {
    // The same head three times (pipelined, with different bodies), then one field changed,
    // then one field added, then the first head again.
    const sends: Array<[string, string, string[]]> = [
      ["aaaa", "X-Tag: 1\r\n", fields("1")],
      ["bbbb", "X-Tag: 1\r\n", fields("1")],
      ["cccc", "X-Tag: 1\r\n", fields("1")],
      ["dddd", "X-Tag: 2\r\n", fields("2")],
      ["eeee", "X-Tag: 2\r\nX-More: y\r\n", fields("2", "x-more=y")],
      ["ffff", "X-Tag: 1\r\n", fields("1")],
    ];
    await c.write(sends.map(([body, extra]) => POST("/fast/fields", body, extra)).join(""));
    for (const [body, , want] of sends) {
      const r = json((await c.read())!);
      assert.deepEqual(r, { fields: [...want, "content-length=4"], body }, body);
    }
    // A head longer than what is remembered, twice.
    const pad = `X-Pad: ${"p".repeat(2000)}\r\n`;
    await c.write(POST("/fast/fields", "gggg", pad) + POST("/fast/fields", "hhhh", pad));
    for (const body of ["gggg", "hhhh"]) {
      const r = json((await c.read())!);
      assert.equal(r.body, body);
      assert.equal((r.fields as string[])[1], `x-pad=${"p".repeat(2000)}`);
    }
  } finally {
    c.close();
    await svc.close();
  }
});

Deno.test("raw bodies over the limit are 413, cut short are 400, and 100-continue is sent", async () => {
  const { server } = setup({ maxBodyBytes: 10 });
  const svc = await server.listen();
  const port = portOf(svc.url);
  try {
    // Declared over the connection's limit: refused before a byte is read.
    const a = await RawConn.open(port);
    await a.write("POST /fast/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\n");
    const big = await a.read();
    assert.equal(big?.status, 413);
    assert.equal(json(big!).limit_bytes, 10);
    a.close();
    // Over the route's own (lower) limit, already buffered.
    const b = await RawConn.open(port);
    await b.write(POST("/fast/echo", "123456", "X-Limit: 4\r\n"));
    assert.equal((await b.read())?.status, 413);
    b.close();
    // Chunked past the limit.
    const d = await RawConn.open(port);
    await d.write(
      "POST /fast/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n",
    );
    assert.equal((await d.read())?.status, 413);
    d.close();
    // A chunk announced past the route's limit: refused at its size line, the data never sent
    // (the body deadline is 30 s, the read's 10).
    const an = await RawConn.open(port);
    await an.write(
      "POST /fast/echo HTTP/1.1\r\nHost: localhost\r\nX-Limit: 6\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\n",
    );
    const announced = await an.read();
    assert.equal(announced?.status, 413);
    assert.equal(json(announced!).limit_bytes, 6);
    an.close();
    // Ends early.
    const e = await RawConn.open(port);
    await e.write("POST /fast/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9\r\n\r\nabcd");
    await e.closeWrite();
    const short = await e.read();
    assert.equal(short?.status, 400);
    assert.match(String(json(short!).error), /ended early/);
    e.close();
    // Broken chunk framing: 400, then the connection closes.
    const f = await RawConn.open(port);
    await f.write(
      "POST /fast/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    assert.equal((await f.read())?.status, 400);
    assert.ok(await f.closed());
    f.close();
    // 100-continue comes when the route reads the body.
    const g = await RawConn.open(port);
    await g.write(
      "POST /fast/echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    assert.equal((await g.readInterim())?.status, 100);
    await g.write("hello");
    assert.deepEqual(json((await g.read())!), { len: 5, text: "hello" });
    g.close();
  } finally {
    await svc.close();
  }
});

Deno.test("a streamed raw answer is chunked for HTTP/1.1 and close-delimited for HTTP/1.0", async () => {
  const { server } = setup();
  const svc = await server.listen();
  try {
    const c = await RawConn.open(portOf(svc.url));
    await c.write(POST("/fast/stream", "") + POST("/fast/a", ""));
    const s = await c.read();
    assert.equal(s?.framing, "chunked");
    assert.equal(s?.body, "part1;part2;part3;");
    assert.equal((await c.read())?.status, 201, "the connection carries on after the stream");
    c.close();
    const old = await RawConn.open(portOf(svc.url));
    await old.write("POST /fast/stream HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    const r = await old.read();
    assert.equal(r?.framing, "close");
    assert.equal(r?.body, "part1;part2;part3;");
    assert.ok(await old.closed());
    old.close();
  } finally {
    await svc.close();
  }
});

Deno.test("whole raw answers: owned fields dropped in any case, one Date, every size", async () => {
  const { server } = setup();
  const svc = await server.listen();
  const c = await RawConn.open(portOf(svc.url));
  try {
    // 16 KiB is written with its head from one pooled buffer, one byte more in two writes, and a
    // head too large for the buffer falls back to the text path; all frame the same.
    const cases = [[0, 0], [11, 0], [16 * 1024, 0], [16 * 1024 + 1, 0], [100, 40_000]];
    for (const [size, pad] of cases) {
      await c.write(POST("/fast/shape", "", `X-Size: ${size}\r\nX-Pad: ${pad}\r\n`));
      const r = await c.read();
      assert.equal(r?.status, 200);
      assert.equal(r?.framing, "length");
      assert.equal(r?.body.length, size);
      assert.equal(header(r!, "content-length"), String(size));
      assert.equal(header(r!, "transfer-encoding"), undefined);
      assert.equal(header(r!, "keep-alive"), undefined);
      assert.equal(header(r!, "connection"), undefined);
      assert.equal(header(r!, "x-pad")?.length, pad);
      assert.equal(r?.headers.filter(([k]) => k === "date").length, 1);
    }
    await c.write(POST("/fast/shape", "", "X-Size: 5\r\nX-Date: 1\r\n"));
    const dated = await c.read();
    assert.deepEqual(dated?.headers.filter(([k]) => k === "date"), [
      ["date", "Tue, 01 Jan 2030 00:00:00 GMT"],
    ]);
    await c.write(POST("/fast/shape", "", "X-Size: 5\r\nX-Status: 204\r\n"));
    const empty = await c.read();
    assert.equal(empty?.status, 204);
    assert.equal(header(empty!, "content-length"), undefined);
    c.close();
    const old = await RawConn.open(portOf(svc.url));
    await old.write(
      "POST /fast/shape HTTP/1.0\r\nConnection: keep-alive\r\nX-Size: 3\r\nContent-Length: 0\r\n\r\n",
    );
    const kept = await old.read();
    assert.equal(header(kept!, "connection"), "keep-alive");
    assert.equal(kept?.body, "bbb");
    await old.write("POST /fast/shape HTTP/1.0\r\nX-Size: 2\r\nContent-Length: 0\r\n\r\n");
    const closing = await old.read();
    assert.equal(header(closing!, "connection"), "close");
    assert.equal(closing?.body, "bb");
    assert.ok(await old.closed());
    old.close();
  } finally {
    c.close();
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

Deno.test("targetPathOf: an absolute-form target's authority ends at its first /, ? or #", () => {
  // `http://h?/proxy` is the path "/" with the query "/proxy", as a URL parser reads it.
  assert.equal(targetPathOf("http://h?/proxy"), "/");
  assert.equal(targetPathOf("http://h#/proxy?x"), "/");
  assert.equal(targetPathOf("HTTP://h:1?a/b"), "/");
  assert.equal(targetPathOf("http://h"), "/");
  assert.equal(targetPathOf("https://u@h:8/proxy/a?b/c"), "/proxy/a");
  for (const t of ["http://h?/proxy", "http://h#/p?x", "http://h/a/b?c", "https://h:1/x#y"]) {
    assert.equal(targetPathOf(t).split("#")[0], new URL(t).pathname, t);
  }
});

Deno.test("a route that settles its later answer itself: request id, metrics and envelope once", async () => {
  const made: Array<[string, boolean | undefined]> = [];
  const later = <T>(f: () => T) => new Promise<T>((r) => setTimeout(() => r(f()), 5));
  const route: RawRoute = {
    route: "/late/*",
    serve(req, requestId, madeId, settle) {
      made.push([requestId, madeId]);
      const path = targetPathOf(req.target);
      if (settle === undefined) throw new Error("no settle given");
      settle.takeOver();
      if (path === "/late/fail") return later(() => settle.failed(new Error("kaput")));
      if (path === "/late/bad-field") {
        return later(() => settle.done({ status: 200, headers: [["x-a", "b\r\nc: d"]], body: "" }));
      }
      return later(() => settle.done({ status: 202, headers: [], body: "late" }));
    },
  };
  const log = createLogger({ service: "t", sink: () => {} });
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log,
    rawRoutes: (method, path) => method === "POST" && path.startsWith("/late/") ? route : undefined,
  });
  const svc = await server.listen();
  try {
    const ok = await fetch(`${svc.url}/late/ok`, { method: "POST" });
    assert.equal(ok.status, 202);
    assert.equal(await ok.text(), "late");
    const id = ok.headers.get("x-request-id")!;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // One X-Request-Id field, the one made for the request and handed to the route as made.
    assert.deepEqual(made, [[id, true]]);
    assert.ok(!ok.headers.get("x-request-id")!.includes(","), "one X-Request-Id field");
    const kept = await fetch(`${svc.url}/late/ok`, {
      method: "POST",
      headers: { "x-request-id": "rid-1" },
    });
    await kept.body?.cancel();
    assert.equal(kept.headers.get("x-request-id"), "rid-1");
    const unsafe = await fetch(`${svc.url}/late/ok`, {
      method: "POST",
      headers: { "x-request-id": "a b" },
    });
    await unsafe.body?.cancel();
    assert.deepEqual(made.slice(1), [["rid-1", false], [unsafe.headers.get("x-request-id"), true]]);
    const fail = await fetch(`${svc.url}/late/fail`, { method: "POST" });
    assert.equal(fail.status, 500);
    assert.equal((await fail.json()).request_id, fail.headers.get("x-request-id"));
    const bad = await fetch(`${svc.url}/late/bad-field`, { method: "POST" });
    assert.equal(bad.status, 500);
    await bad.body?.cancel();
    assert.equal(bad.headers.get("c"), null);
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    assert.match(
      text,
      /iatp_http_requests_total\{method="POST",route="\/late\/\*",status="202",service="t"\} 3/,
    );
    assert.match(
      text,
      /iatp_http_requests_total\{method="POST",route="\/late\/\*",status="500",service="t"\} 2/,
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
