/**
 * Bodies lent to a raw route that reads them only until its answer resolves (`leasesBody`):
 * each request sees its own bytes however its body arrived (whole, in pieces, chunked, larger
 * than a lent buffer, pipelined behind another), while other requests are framed meanwhile on
 * other connections; a route that does not lease keeps bodies that stay as they were.
 * @module
 */
import assert from "node:assert/strict";
import { createServer, type RawRoute } from "../../../../core/http/mod.ts";
import { targetPathOf } from "../../../../core/http/raw_route.ts";
import {
  giveBackLease,
  LEASE_BYTES,
  SMALL_LEASE_BYTES,
  takeLease,
} from "../../../../core/http/lease/mod.ts";
import { createLogger } from "../../../../core/log/mod.ts";
import { json, RawConn } from "../../../support/raw_http.ts";

const dec = new TextDecoder();
const portOf = (url: string) => Number(new URL(url).port);
const POST = (path: string, body: string, extra = "") =>
  `POST ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`;

/** Gates a `/lease/hold` request: it reads its body again only once released. */
let gate: PromiseWithResolvers<void> | undefined;
let held: PromiseWithResolvers<void> | undefined;
/** The bodies of `/lease/release` answers whose release was called. */
const released: string[] = [];
/** The buffers the bodies of `/lease/turns` requests were lent. */
const turns: ArrayBufferLike[] = [];

function setup() {
  const log = createLogger({ service: "t", sink: () => {} });
  const kept: Array<{ bytes: Uint8Array; text: string }> = [];
  const echo = (first: string, later: Uint8Array) => ({
    status: 200,
    headers: [] as Array<[string, string]>,
    body: JSON.stringify({ first, later: dec.decode(later) }),
  });
  const lease: RawRoute = {
    route: "/lease/*",
    leasesBody: true,
    serve(req) {
      if (targetPathOf(req.target) === "/lease/release") {
        // Answers with a copy of its body, asking to hear once it was copied out.
        return req.body(1 << 20).then((b) => {
          const text = dec.decode(b);
          const body = new Uint8Array(b);
          return { status: 200, headers: [], body, release: () => released.push(text) };
        });
      }
      if (targetPathOf(req.target) === "/lease/turns") {
        // Answers with its body in a lent buffer of its own, given back once copied out.
        const now = req.bodyNow!(1 << 20)!;
        turns.push(now.buffer);
        const buf = takeLease(now.length);
        buf.set(now);
        const body = buf.subarray(0, now.length);
        return { status: 200, headers: [], body, release: () => giveBackLease(buf) };
      }
      const now = req.bodyNow?.(1 << 20);
      if (now === undefined) {
        return req.body(1 << 20).then((b) => echo(dec.decode(b), b));
      }
      const first = dec.decode(now);
      if (targetPathOf(req.target) !== "/lease/hold") return echo(first, now);
      // Reads its bytes again after other requests were framed (before its answer resolves).
      held?.resolve();
      return gate!.promise.then(() => echo(first, now));
    },
  };
  const keep: RawRoute = {
    route: "/keep/*",
    async serve(req) {
      const bytes = await req.body(1 << 20);
      kept.push({ bytes, text: dec.decode(bytes) });
      return { status: 204, headers: [], body: null };
    },
  };
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log,
    rawRoutes: (method, path) =>
      method !== "POST"
        ? undefined
        : path.startsWith("/lease/")
        ? lease
        : path.startsWith("/keep/")
        ? keep
        : undefined,
  });
  return { server, kept };
}

/** Reads one answer of the lease route and checks it saw `body` both times. */
async function expectEcho(c: RawConn, body: string): Promise<void> {
  const r = await c.read();
  assert.equal(r?.status, 200);
  const seen = json(r!) as { first: string; later: string };
  assert.equal(seen.first.length, body.length);
  assert.equal(seen.first, body);
  assert.equal(seen.later, body);
}

/**
 * A server and two connections to it: on `a`, a `/lease/hold` request (body `first`) holds its
 * lent body until `release`; `b` is free for other requests meanwhile.
 */
async function holdingOne() {
  const { server, kept } = setup();
  const svc = await server.listen();
  const a = await RawConn.open(portOf(svc.url));
  const b = await RawConn.open(portOf(svc.url));
  const close = async () => {
    a.close();
    b.close();
    await svc.close();
  };
  const g = Promise.withResolvers<void>();
  gate = g;
  held = Promise.withResolvers();
  const first = '{"who":"first","pad":"' + "1".repeat(300) + '"}';
  try {
    await a.write(POST("/lease/hold", first));
    await held.promise;
  } catch (err) {
    await close();
    throw err;
  }
  return { kept, a, b, first, release: () => g.resolve(), close };
}

Deno.test("a leasing raw route sees its own body, whole, in pieces, chunked or large", async () => {
  const { server } = setup();
  const svc = await server.listen();
  const c = await RawConn.open(portOf(svc.url));
  try {
    const big = "b".repeat(LEASE_BYTES + 10);
    // Pipelined: three bodies in one write, the second larger than a lent buffer.
    await c.write(POST("/lease/a", '{"n":1}') + POST("/lease/a", big) + POST("/lease/a", "x"));
    await expectEcho(c, '{"n":1}');
    await expectEcho(c, big);
    await expectEcho(c, "x");
    // A body after its head, in two pieces; then a chunked one.
    await c.write("POST /lease/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nhello");
    await c.write("world");
    await expectEcho(c, "helloworld");
    await c.write(
      "POST /lease/a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    await expectEcho(c, "abc");
  } finally {
    c.close();
    await svc.close();
  }
});

Deno.test("a lent body stays the request's own while other requests are served", async () => {
  const { kept, a, b, first, release, close } = await holdingOne();
  try {
    // While the first waits for its answer, others are framed and answered on another
    // connection, and a route that keeps its bodies keeps them.
    for (let i = 0; i < 5; i++) {
      const other = `{"who":"other ${i}","pad":"${"2".repeat(300)}"}`;
      await b.write(POST("/lease/a", other));
      await expectEcho(b, other);
      await b.write(POST("/keep/k", `kept ${i}`));
      assert.equal((await b.read())?.status, 204);
    }
    release();
    await expectEcho(a, first);
    // After more lent bodies, the kept ones are as they arrived.
    await b.write(POST("/lease/a", "z".repeat(64)) + POST("/lease/a", "y".repeat(64)));
    await expectEcho(b, "z".repeat(64));
    await expectEcho(b, "y".repeat(64));
    assert.deepEqual(kept.map((k) => dec.decode(k.bytes)), kept.map((k) => k.text));
    assert.deepEqual(kept.map((k) => k.text), [0, 1, 2, 3, 4].map((i) => `kept ${i}`));
  } finally {
    await close();
  }
});

Deno.test("lent bodies around the small buffer's size stay each request's own", async () => {
  const { a, b, first, release, close } = await holdingOne();
  try {
    // While the first holds a small lent buffer: bodies of every size class, pipelined too.
    const sizes = [10, SMALL_LEASE_BYTES - 200, SMALL_LEASE_BYTES + 1, 9_000, LEASE_BYTES, 20];
    for (const n of sizes) {
      const other = String(n % 10).repeat(n);
      await b.write(POST("/lease/a", other));
      await expectEcho(b, other);
    }
    await b.write(POST("/lease/a", "s".repeat(100)) + POST("/lease/a", "t".repeat(3_000)));
    await expectEcho(b, "s".repeat(100));
    await expectEcho(b, "t".repeat(3_000));
    release();
    await expectEcho(a, first);
  } finally {
    await close();
  }
});

Deno.test("a raw answer's release is called once its body was copied out, else never", async () => {
  const { server } = setup();
  const svc = await server.listen();
  const c = await RawConn.open(portOf(svc.url));
  released.length = 0;
  try {
    const small = "s".repeat(100);
    await c.write(POST("/lease/release", small));
    assert.equal((await c.read())?.body, small);
    assert.deepEqual(released, [small]);
    // Too large to be copied with its head: written as it is, never released.
    const large = "g".repeat(20 * 1024);
    await c.write(POST("/lease/release", large));
    assert.equal((await c.read())?.body, large);
    assert.deepEqual(released, [small]);
  } finally {
    c.close();
    await svc.close();
  }
});

Deno.test("requests whose answers are lent buffers take the same buffer for their bodies each time", async () => {
  // The answer's buffer goes back before the request's: the next request takes the request's
  // again (and the next answer the answer's), so the views kept of them are used again.
  const { server } = setup();
  const svc = await server.listen();
  const c = await RawConn.open(portOf(svc.url));
  turns.length = 0;
  try {
    for (let i = 0; i < 4; i++) {
      const body = `{"turn":${i}}`;
      await c.write(POST("/lease/turns", body));
      assert.equal((await c.read())?.body, body);
    }
    assert.equal(turns.length, 4);
    for (const b of turns) assert.strictEqual(b, turns[0]);
  } finally {
    c.close();
    await svc.close();
  }
});
