/**
 * Pushed bodies (`pushStream`): written straight onto the socket by the edge, chunked for
 * HTTP/1.1 with keep-alive after the last chunk, close-delimited for HTTP/1.0, nothing for
 * HEAD; partial socket writes and backpressure (`backlog`, `drained`); the producer told when
 * the client goes away or a write stalls past the idle deadline; and the same producer read as
 * an ordinary stream when no socket is involved; and the small read-ahead of GET requests (which
 * lets a streaming connection drop its read buffer) losing nothing of the next request.
 * @module
 */
import assert from "node:assert/strict";
import {
  createServer,
  type PushEnd,
  type PushSink,
  type PushSource,
  pushStream,
} from "../../../../core/http/mod.ts";
import { createLogger } from "../../../../core/log/mod.ts";
import { header, RawConn } from "../../../support/raw_http.ts";
import { delay } from "../../../helpers.ts";

const enc = new TextEncoder();
const log = createLogger({ service: "t", sink: () => {} });

/** A producer a test drives by hand. */
class Source implements PushSource {
  sink: PushSink | undefined;
  ended: PushEnd | undefined;
  drains = 0;
  readonly opened = Promise.withResolvers<PushSink>();
  open(sink: PushSink): void {
    this.sink = sink;
    this.opened.resolve(sink);
  }
  drained(): void {
    this.drains++;
  }
  closed(reason: PushEnd): void {
    this.ended = reason;
  }
}

async function serve(opts: { idleTimeoutMs?: number } = {}) {
  const sources: Source[] = [];
  /** Holds `/gated` until resolved: its body starts only then. */
  const gate = Promise.withResolvers<void>();
  let gatedRuns = 0;
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log, ...opts });
  const app = await server.loadApp();
  app.get("/push", (c) => {
    const s = new Source();
    sources.push(s);
    return c.body(pushStream(s), 200, { "content-type": "text/plain", "x-route": "push" });
  });
  app.get("/gated", async (c) => {
    gatedRuns++;
    await gate.promise;
    const s = new Source();
    sources.push(s);
    return c.body(pushStream(s), 200, { "content-type": "text/plain" });
  });
  app.get("/plain", (c) => c.text("plain"));
  const svc = await server.listen();
  return { svc, sources, gate, gatedRuns: () => gatedRuns, port: Number(new URL(svc.url).port) };
}

/** Polls `get` until it yields a value (a bounded wait, not a timing assertion). */
async function waitFor<T>(get: () => T | undefined | false, what: string, ms = 10_000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await delay(10);
  }
}

const GET = (path: string, version = "1.1") =>
  `GET ${path} HTTP/${version}\r\nHost: localhost\r\n\r\n`;

Deno.test("a pushed body is chunked on HTTP/1.1 and the connection carries the next request", async () => {
  const { svc, sources, port } = await serve();
  const c = await RawConn.open(port);
  try {
    await c.write(GET("/push") + GET("/plain"));
    await waitFor(() => sources.length === 1, "the route ran");
    const sink = await sources[0].opened.promise;
    assert.equal(sink.write(enc.encode("one;")), true);
    sink.write(enc.encode("two;"));
    sink.write(new Uint8Array(0)); // nothing to frame: an empty chunk would end the body
    sink.write(enc.encode("three"));
    sink.end();
    assert.equal(sink.write(enc.encode("late")), false, "a write after end is refused");
    const r = await c.read();
    assert.equal(r?.status, 200);
    assert.equal(r?.framing, "chunked");
    assert.equal(r?.body, "one;two;three");
    assert.equal(header(r!, "x-route"), "push", "the route's fields are in the head");
    assert.equal(header(r!, "content-type"), "text/plain");
    const next = await c.read();
    assert.equal(next?.body, "plain", "keep-alive after the last chunk");
    assert.equal(sources[0].ended, undefined, "the producer's own end is not reported back");
  } finally {
    c.close();
    await svc.close();
  }
});

Deno.test("a pushed body is close-delimited on HTTP/1.0; HEAD gets the head only", async () => {
  const { svc, sources, port } = await serve();
  const c = await RawConn.open(port);
  const h = await RawConn.open(port);
  try {
    await c.write(GET("/push", "1.0"));
    const sink = await (await waitFor(() => sources[0], "the route ran")).opened.promise;
    sink.write(enc.encode("a;"));
    sink.write(enc.encode("b"));
    sink.end();
    const r = await c.read();
    assert.equal(r?.framing, "close");
    assert.equal(r?.body, "a;b");
    assert.ok(await c.closed(), "the server closed the connection");

    await h.write("HEAD /push HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const head = await h.read(10_000, { head: true });
    assert.equal(head?.status, 200);
    assert.equal(head?.body, "");
  } finally {
    c.close();
    h.close();
    await svc.close();
  }
});

Deno.test("the producer learns when the client goes away mid-stream", async () => {
  const { svc, sources, port } = await serve();
  const c = await RawConn.open(port);
  try {
    await c.write(GET("/push"));
    const sink = await (await waitFor(() => sources[0], "the route ran")).opened.promise;
    sink.write(enc.encode("hello"));
    assert.ok(await c.until((p) => p.includes("hello")));
    c.close();
    await waitFor(() => sources[0].ended === "client", "closed('client') after the client left");
    assert.equal(sink.write(enc.encode("more")), false);
  } finally {
    c.close();
    await svc.close();
  }
});

for (
  const [name, sent] of [
    ["nothing more", GET("/gated")],
    ["a pipelined request", GET("/gated") + GET("/plain")],
  ] as const
) {
  Deno.test(`a client that sent ${name} and left while the handler ran ends the pushed body as it starts`, async () => {
    const { svc, sources, gate, gatedRuns, port } = await serve();
    const c = await RawConn.open(port);
    try {
      await c.write(sent);
      await waitFor(() => gatedRuns() === 1, "the handler runs");
      c.close();
      // Give the edge time to read the client's end while the handler still waits (ordering
      // only: the assertion below waits for the outcome whatever the timing).
      await delay(200);
      gate.resolve();
      const source = await waitFor(() => sources[0], "the body was made");
      await waitFor(() => source.ended === "client", "closed('client') once the body started");
    } finally {
      c.close();
      await svc.close();
    }
  });
}

Deno.test("a client that fills the read buffer while a body is pushed is cut off", async () => {
  const { svc, sources, port } = await serve();
  const c = await RawConn.open(port);
  try {
    await c.write(GET("/push"));
    const source = await waitFor(() => sources[0], "the route ran");
    await source.opened.promise;
    // Far more than a connection's read buffer holds, never read by anyone while the body lasts.
    c.write(new Uint8Array(1 << 20).fill(0x41)).catch(() => {});
    await waitFor(() => source.ended === "error", "the connection closed, the producer told");
    assert.ok(await c.closed(), "the edge closed the connection");
  } finally {
    c.close();
    await svc.close();
  }
});

/**
 * Writes 256 KB chunks, one after another's drain, until one does not drain within a while
 * (the client reads nothing, so the kernel buffers filled) or the stream ends; bounded at 1 GB.
 */
async function fillUntilStalled(source: Source, sink: PushSink): Promise<string[]> {
  const sent: string[] = [];
  for (let i = 0; i < 4096 && source.ended === undefined; i++) {
    const text = `<${i}>` + String(i % 10).repeat(256 * 1024 - 8);
    sent.push(text);
    const drains = source.drains;
    sink.write(enc.encode(text));
    const until = Date.now() + 1_000;
    while (source.drains === drains && source.ended === undefined && Date.now() < until) {
      await delay(10);
    }
    if (source.drains === drains) break;
  }
  return sent;
}

Deno.test("backlog counts what the socket has not taken; it drains in order when the client reads", async () => {
  const { svc, sources, port } = await serve();
  const c = await RawConn.open(port);
  try {
    await c.write(GET("/push"));
    const source = await waitFor(() => sources[0], "the route ran");
    const sink = await source.opened.promise;
    await c.status();
    // The client reads nothing more meanwhile: kernel buffers fill, then the backlog stays.
    const sent = await fillUntilStalled(source, sink);
    assert.ok(sink.backlog > 0, "the last chunk is not taken by the socket");
    const drains = source.drains;
    sink.end();
    const r = await c.read(60_000);
    assert.equal(r?.framing, "chunked");
    assert.equal(r?.body, sent.join(""), "every byte, in order, across partial writes");
    assert.equal(sink.backlog, 0);
    assert.equal(source.drains, drains, "no drain reported after the end");
    assert.equal(source.ended, undefined);
  } finally {
    c.close();
    await svc.close();
  }
});

Deno.test("a write stalled past the idle deadline closes the connection and tells the producer", async () => {
  const { svc, sources, port } = await serve({ idleTimeoutMs: 300 });
  const c = await RawConn.open(port);
  try {
    await c.write(GET("/push"));
    const source = await waitFor(() => sources[0], "the route ran");
    const sink = await source.opened.promise;
    await c.status();
    await fillUntilStalled(source, sink);
    await waitFor(() => source.ended === "error", "the stalled stream was ended", 30_000);
    assert.equal(sink.write(enc.encode("x")), false);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    assert.match(metrics, /timeouts_total\{[^}]*phase="write"[^}]*\} [1-9]/);
  } finally {
    c.close();
    await svc.close();
  }
});

Deno.test("read without a socket, a pushed body is an ordinary stream; cancel ends the producer", async () => {
  const source = new Source();
  const stream = pushStream(source);
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  const first = reader.read();
  const sink = await source.opened.promise;
  sink.write(enc.encode("x;"));
  assert.deepEqual(await first, { done: false, value: "x;" });
  sink.write(enc.encode("y"));
  assert.equal((await reader.read()).value, "y");
  await reader.cancel();
  assert.equal(source.ended, "client");

  const ended = new Source();
  const r2 = pushStream(ended).getReader();
  const done = r2.read();
  (await ended.opened.promise).end();
  assert.equal((await done).done, true);
});

Deno.test("a GET's small read-ahead loses nothing of the next request, however large or split", async () => {
  const { svc, port } = await serve();
  const c = await RawConn.open(port);
  try {
    for (const size of [10, 511, 512, 513, 3000]) {
      await c.write(GET("/plain"));
      assert.equal((await c.read())?.body, "plain");
      // Sent after the answer: it lands in the read-ahead started while the handler ran.
      const big = `GET /plain HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${"p".repeat(size)}\r\n\r\n`;
      await c.write(big.slice(0, 300));
      await delay(20);
      await c.write(big.slice(300));
      const r = await c.read();
      assert.equal(r?.status, 200, `a ${size}-byte field after a GET`);
      assert.equal(r?.body, "plain");
    }
  } finally {
    c.close();
    await svc.close();
  }
});

Deno.test("a producer that writes and ends inside open(): each answer whole, the next request served", async () => {
  // On real sockets: each answer whole and the loop going on once (push_early_test.ts drives
  // the case where the body ends before the loop got its sink back).
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log });
  const app = await server.loadApp();
  let opened = 0;
  app.get("/now", (c) =>
    c.body(
      pushStream({
        open(sink) {
          opened++;
          sink.write(enc.encode(`at once ${opened}`));
          sink.end();
        },
        drained() {},
        closed() {},
      }),
      200,
      { "content-type": "text/plain" },
    ));
  app.get("/plain", (c) => c.text("plain"));
  const svc = await server.listen();
  const port = Number(new URL(svc.url).port);
  const c = await RawConn.open(port);
  const old = await RawConn.open(port);
  try {
    await c.write(GET("/now") + GET("/now") + GET("/plain") + GET("/now"));
    for (const want of ["at once 1", "at once 2", "plain", "at once 3"]) {
      const r = await c.read();
      assert.equal(r?.status, 200);
      assert.equal(r?.body, want);
    }
    await c.write(GET("/plain"));
    assert.equal((await c.read())?.body, "plain", "still serving, one answer per request");
    assert.equal(await c.read(300), undefined, "no answer twice");

    await old.write(GET("/now", "1.0"));
    const r = await old.read();
    assert.equal(r?.framing, "close");
    assert.equal(r?.body, "at once 4");
    assert.ok(await old.closed(), "HTTP/1.0: closed after the body");
  } finally {
    c.close();
    old.close();
    await svc.close();
  }
});
