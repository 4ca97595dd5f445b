/**
 * The HTTP/1.1 edge over real sockets, written byte by byte: pipelining, keep-alive, HTTP/1.0,
 * HEAD, 100-continue, response framing, bodies that break off, and refusals with the JSON
 * envelope followed by a closed connection (RFC 9112).
 * @module
 */
import assert from "node:assert/strict";
import { createServer } from "../../../../core/http/mod.ts";
import { createLogger } from "../../../../core/log/mod.ts";
import { waitFor } from "../../../helpers.ts";
import { header, json, RawConn } from "../../../support/raw_http.ts";

interface Setup {
  port: number;
  lines: string[];
  streamCancelled: Promise<void>;
  signalAborted: Promise<void>;
  close(): Promise<void>;
}

type Later = (f: () => void, ms: number) => void;

/** A body of three parts, each made a little later (so the response streams). */
function parts(later: Later): ReadableStream<Uint8Array> {
  let n = 0;
  return new ReadableStream<Uint8Array>({
    pull: (ctrl) =>
      new Promise<void>((r) =>
        later(() => {
          if (++n > 3) ctrl.close();
          else ctrl.enqueue(new TextEncoder().encode(`part${n};`));
          r();
        }, 5)
      ),
  });
}

/** An endless event stream; `onCancel` runs when the server cancels it. */
function ticks(later: Later, onCancel: () => void): ReadableStream<Uint8Array> {
  // A tick armed before the server cancels the stream must not enqueue on it afterwards.
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    pull: (ctrl) =>
      new Promise<void>((r) =>
        later(() => {
          if (!cancelled) ctrl.enqueue(new TextEncoder().encode("data: tick\n\n"));
          r();
        }, 20)
      ),
    cancel: () => {
      cancelled = true;
      onCancel();
    },
  });
}

async function setup(opts: { maxBodyBytes?: number } = {}): Promise<Setup> {
  const lines: string[] = [];
  const log = createLogger({ service: "t", sink: (l) => lines.push(l) });
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log, ...opts });
  const app = await server.loadApp();
  const cancelled = Promise.withResolvers<void>();
  const aborted = Promise.withResolvers<void>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later: Later = (f, ms) => {
    const t = setTimeout(() => (timers.delete(t), f()), ms);
    timers.add(t);
  };
  app.get("/hello", (c) => c.json({ hello: c.req.query("n") ?? "world" }));
  app.post("/echo", async (c) => {
    const text = await c.req.text();
    return c.json({ len: text.length, text });
  });
  app.get(
    "/stream",
    () => new Response(parts(later), { headers: { "content-type": "text/plain" } }),
  );
  app.get(
    "/sse",
    () =>
      new Response(ticks(later, cancelled.resolve), {
        headers: { "content-type": "text/event-stream" },
      }),
  );
  app.get("/wait", async (c) => {
    const signal = c.req.raw.signal;
    await new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));
    aborted.resolve();
    return c.json({ aborted: true });
  });
  const svc = await server.listen();
  return {
    port: Number(new URL(svc.url).port),
    lines,
    streamCancelled: cancelled.promise,
    signalAborted: aborted.promise,
    close: async () => {
      await svc.close();
      for (const t of timers) clearTimeout(t);
    },
  };
}

const GET = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;

Deno.test("keep-alive: one connection carries several requests", async () => {
  const s = await setup();
  const c = await RawConn.open(s.port);
  try {
    for (const n of ["1", "2", "3"]) {
      await c.write(GET(`/hello?n=${n}`));
      const r = await c.read();
      assert.equal(r?.status, 200);
      assert.equal(r?.framing, "length");
      assert.deepEqual(json(r!), { hello: n });
      assert.equal(header(r!, "connection"), undefined);
    }
  } finally {
    c.close();
    await s.close();
  }
});

Deno.test("pipelined requests are answered in order", async () => {
  const s = await setup();
  const c = await RawConn.open(s.port);
  try {
    const body = '{"x":1}';
    await c.write(
      GET("/hello?n=a") +
        `POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
        GET("/stream") + GET("/hello?n=b"),
    );
    assert.deepEqual(json((await c.read())!), { hello: "a" });
    assert.deepEqual(json((await c.read())!), { len: 7, text: body });
    const streamed = await c.read();
    assert.equal(streamed?.framing, "chunked");
    assert.equal(streamed?.body, "part1;part2;part3;");
    assert.deepEqual(json((await c.read())!), { hello: "b" });
  } finally {
    c.close();
    await s.close();
  }
});

Deno.test("HTTP/1.0: closes after the response unless keep-alive; streams close-delimited", async () => {
  const s = await setup();
  try {
    const a = await RawConn.open(s.port);
    await a.write("GET /hello HTTP/1.0\r\n\r\n");
    const r = await a.read();
    assert.equal(r?.status, 200);
    assert.equal(header(r!, "connection"), "close");
    assert.ok(await a.closed(), "HTTP/1.0 without keep-alive closes");
    a.close();

    const b = await RawConn.open(s.port);
    await b.write("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const kept = await b.read();
    assert.equal(header(kept!, "connection"), "keep-alive");
    await b.write("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const streamed = await b.read();
    assert.equal(streamed?.framing, "close", "no chunked coding for an HTTP/1.0 client");
    assert.equal(streamed?.body, "part1;part2;part3;");
    b.close();
  } finally {
    await s.close();
  }
});

Deno.test("HEAD: the head without a body, and the connection stays usable", async () => {
  const s = await setup();
  const c = await RawConn.open(s.port);
  try {
    await c.write("HEAD /hello HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const h = await c.read(10_000, { head: true });
    assert.equal(h?.status, 200);
    assert.equal(c.pending, "", "no body bytes after a HEAD response");
    await c.write(GET("/hello"));
    assert.deepEqual(json((await c.read())!), { hello: "world" });
  } finally {
    c.close();
    await s.close();
  }
});

Deno.test("Expect: 100-continue: the interim response comes when the handler reads", async () => {
  const s = await setup();
  const c = await RawConn.open(s.port);
  try {
    await c.write(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    const interim = await c.readInterim();
    assert.equal(interim?.status, 100);
    await c.write("hello");
    const r = await c.read();
    assert.deepEqual(json(r!), { len: 5, text: "hello" });
    // A handler that answers without reading: no 100, and the connection closes after.
    await c.write(
      "POST /nope HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    const nf = await c.readInterim();
    assert.equal(nf?.status, 404);
    assert.equal(header(nf!, "connection"), "close");
  } finally {
    c.close();
    await s.close();
  }
});

Deno.test("a chunked request body is decoded; an unread body already received is skipped", async () => {
  const s = await setup();
  const c = await RawConn.open(s.port);
  try {
    await c.write(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    assert.deepEqual(json((await c.read())!), { len: 5, text: "abcde" });
    // A body the handler never reads, fully here already: skipped, the connection lives on.
    await c.write(
      "POST /hello HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nxyz" + GET("/hello"),
    );
    assert.equal((await c.read())?.status, 405);
    assert.equal((await c.read())?.status, 200);
  } finally {
    c.close();
    await s.close();
  }
});

Deno.test("a body that ends early is a 400 envelope for the handler's read, never a 500", async () => {
  const s = await setup();
  try {
    const c = await RawConn.open(s.port);
    await c.write("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabcd");
    await c.closeWrite();
    const r = await c.read();
    assert.equal(r?.status, 400);
    assert.match(String(json(r!).error), /ended early/);
    assert.ok(json(r!).request_id);
    c.close();

    const d = await RawConn.open(s.port);
    await d.write(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
    );
    await d.closeWrite();
    assert.equal((await d.read())?.status, 400);
    d.close();

    const e = await RawConn.open(s.port);
    await e.write(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    const broken = await e.read();
    assert.equal(broken?.status, 400);
    assert.match(String(json(broken!).error), /chunk size/);
    assert.ok(await e.closed(), "the connection closes after a broken body");
    e.close();
    assert.ok(!s.lines.some((l) => l.includes('"level":"error"')), s.lines.join("\n"));
  } finally {
    await s.close();
  }
});

Deno.test("a chunked body over max_body_bytes is cut off with 413", async () => {
  const s = await setup({ maxBodyBytes: 10 });
  const c = await RawConn.open(s.port);
  try {
    await c.write(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n",
    );
    const r = await c.read();
    assert.equal(r?.status, 413);
    assert.equal(json(r!).limit_bytes, 10);
  } finally {
    c.close();
    await s.close();
  }
});

Deno.test("a chunk announced past max_body_bytes is refused at its size line", async () => {
  const s = await setup({ maxBodyBytes: 1024 });
  const c = await RawConn.open(s.port);
  try {
    // Only the size line: the answer must not wait for data (nor for the 30 s body deadline;
    // the read gives up after 10 s).
    await c.write(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n",
    );
    const r = await c.read();
    assert.equal(r?.status, 413);
    assert.equal(json(r!).limit_bytes, 1024);
  } finally {
    c.close();
    await s.close();
  }
});

Deno.test("protocol errors: a 4xx JSON envelope, then the connection closes", async () => {
  const s = await setup();
  const cases: Array<[string, number]> = [
    [
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      400,
    ],
    [
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
      400,
    ],
    ["POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunkedx\r\n\r\n", 400],
    ["POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
    ["GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n\r\n", 400],
    [`GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431],
    [`GET /${"a".repeat(10_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, 414],
    [`GET /${"a".repeat(40_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, 414],
    ["GET / HTTP/3.0\r\nHost: localhost\r\n\r\n", 505],
    ["\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400],
  ];
  try {
    for (const [req, status] of cases) {
      const c = await RawConn.open(s.port);
      await c.write(req);
      const r = await c.read();
      assert.equal(r?.status, status, JSON.stringify(req.slice(0, 60)));
      const body = json(r!);
      assert.equal(typeof body.error, "string");
      assert.match(String(body.request_id), /^[0-9a-f-]{36}$/);
      assert.equal(header(r!, "connection"), "close");
      assert.ok(await c.closed(), `closed after ${status}`);
      c.close();
    }
    const metrics = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
    assert.match(metrics, /iatp_http_protocol_errors_total\{status="431",service="t"\} 1/);
  } finally {
    await s.close();
  }
});

Deno.test("a client that goes away cancels a streaming response and aborts the signal", async () => {
  const s = await setup();
  try {
    const c = await RawConn.open(s.port);
    await c.write(GET("/sse"));
    await c.readInterim(200); // the stream never completes: this only waits for events
    assert.match(c.pending, /^HTTP\/1\.1 200 OK\r\n[\s\S]*data: tick/);
    c.close();
    await s.streamCancelled;

    const w = await RawConn.open(s.port);
    await w.write(GET("/wait"));
    w.close();
    await s.signalAborted;
  } finally {
    await s.close();
  }
});

Deno.test("a client that stops reading a response is closed after idle_timeout", async () => {
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log: createLogger({ service: "t", sink: () => {} }),
    idleTimeoutMs: 300,
  });
  const app = await server.loadApp();
  // More than loopback socket buffers hold, so the write stalls on a client that never reads.
  const big = new Uint8Array(64 * 1024 * 1024);
  app.get("/big", () => new Response(big));
  const svc = await server.listen();
  const c = await RawConn.open(Number(new URL(svc.url).port));
  try {
    await c.write(GET("/big"));
    let text = "";
    await waitFor(
      async () => {
        text = await (await fetch(`${svc.url}/metrics`)).text();
        // The stalled write timed out and its connection is gone: only /metrics's own is open
        // (read together, since a loaded host may count the timeout a turn before the close).
        return /iatp_http_timeouts_total\{phase="write",service="t"\} 1/.test(text) &&
          /iatp_http_connections_open\{service="t"\} 1\n/.test(text);
      },
      10_000,
      "the stalled write to time out and its connection to close",
    );
    assert.match(text, /iatp_http_connections_open\{service="t"\} 1\n/, "only /metrics's own");
  } finally {
    c.close();
    await svc.close();
  }
});
