/**
 * The edge against a hostile client on a raw socket: a cap held by connections that send
 * nothing, refusals that name the bound a client crossed, and a request line made long by its
 * method rather than its target.
 * @module
 */
import assert from "node:assert/strict";
import { createServer } from "../../../../core/http/mod.ts";
import { createLogger } from "../../../../core/log/mod.ts";
import { json, RawConn } from "../../../support/raw_http.ts";

interface Setup {
  port: number;
  /** Resolves once `n` requests to `/hold` are in their handler. */
  holding(n: number): Promise<void>;
  close(): Promise<void>;
}

async function setup(opts: { maxConnections?: number } = {}): Promise<Setup> {
  const log = createLogger({ service: "t", sink: () => {} });
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log, ...opts });
  const app = await server.loadApp();
  let held = 0;
  const waiters: Array<{ n: number; resolve(): void }> = [];
  const release = Promise.withResolvers<void>();
  app.post("/echo", async (c) => c.json({ text: await c.req.text() }));
  app.get("/hold", async (c) => {
    held++;
    for (const w of waiters) if (held >= w.n) w.resolve();
    await Promise.race([
      release.promise,
      new Promise((r) => c.req.raw.signal.addEventListener("abort", r, { once: true })),
    ]);
    return c.json({ held: true });
  });
  const svc = await server.listen();
  return {
    port: Number(new URL(svc.url).port),
    holding: (n) => {
      if (held >= n) return Promise.resolve();
      const w = Promise.withResolvers<void>();
      waiters.push({ n, resolve: w.resolve });
      return w.promise;
    },
    close: async () => {
      release.resolve();
      await svc.close();
    },
  };
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`;

Deno.test("at max_connections, connections that send nothing make room: a new client and /health are served", async () => {
  const s = await setup({ maxConnections: 3 });
  const silent: RawConn[] = [];
  const served: RawConn[] = [];
  try {
    for (let i = 0; i < 3; i++) silent.push(await RawConn.open(s.port));
    for (const path of ["/health", "/health", "/metrics"]) {
      const c = await RawConn.open(s.port);
      served.push(c); // kept open: each one takes a slot a silent one gave up
      await c.write(GET(path));
      const r = await c.read();
      assert.equal(r?.status, 200, `${path} at the cap: ${r?.body}`);
    }
    // The silent connections, the oldest, were closed to make room.
    for (const c of silent) assert.ok(await c.closed(), "a silent connection was closed");
  } finally {
    for (const c of [...silent, ...served]) c.close();
    await s.close();
  }
});

Deno.test("at max_connections, the oldest idle keep-alive connection makes room", async () => {
  const s = await setup({ maxConnections: 2 });
  const kept: RawConn[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const c = await RawConn.open(s.port);
      await c.write(GET("/health"));
      assert.equal((await c.read())?.status, 200);
      kept.push(c); // served, and waiting for its next request
    }
    const c = await RawConn.open(s.port);
    await c.write(GET("/health"));
    assert.equal((await c.read())?.status, 200);
    c.close();
    assert.ok(await kept[0].closed(), "the oldest keep-alive connection was closed");
    // The other one is still served on its connection.
    await kept[1].write(GET("/health"));
    assert.equal((await kept[1].read())?.status, 200);
  } finally {
    for (const c of kept) c.close();
    await s.close();
  }
});

Deno.test("at max_connections with every connection busy, a new one gets the 503 envelope", async () => {
  const s = await setup({ maxConnections: 2 });
  const busy: RawConn[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const c = await RawConn.open(s.port);
      await c.write(GET("/hold"));
      busy.push(c);
    }
    await s.holding(2); // both requests are in their handler: neither is idle
    const c = await RawConn.open(s.port);
    await c.write(GET("/health"));
    const r = await c.read();
    assert.equal(r?.status, 503);
    assert.equal(json(r!).error, "too many connections");
    c.close();
    assert.equal(await busy[0].closed(200), false, "a busy connection is never closed for room");
  } finally {
    for (const c of busy) c.close();
    await s.close();
  }
});

Deno.test("a trailer section over its bound is refused naming the bound, however its lines fill it", async () => {
  const s = await setup();
  const head =
    "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n";
  try {
    for (
      const trailer of [`X-T: ${"y".repeat(20_000)}\r\n\r\n`, "a: b\r\n".repeat(5_000) + "\r\n"]
    ) {
      const c = await RawConn.open(s.port);
      await c.write(head + trailer);
      const r = await c.read();
      assert.equal(r?.status, 431);
      assert.equal(json(r!).error, "trailer section larger than 16384 bytes");
      assert.equal(json(r!).limit_bytes, 16384);
      c.close();
    }
  } finally {
    await s.close();
  }
});

Deno.test("a request line made long by its method is 501, by its target 414", async () => {
  const s = await setup();
  try {
    const cases: Array<[string, number]> = [
      [`${"A".repeat(100_000)} / HTTP/1.1\r\nHost: localhost\r\n\r\n`, 501],
      [`${"A".repeat(20_000)}\r\nHost: localhost\r\n\r\n`, 501],
      [`GET /${"a".repeat(9_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, 414],
      [`GET /${"a".repeat(100_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, 414],
    ];
    for (const [req, status] of cases) {
      const c = await RawConn.open(s.port);
      await c.write(req).catch(() => {}); // the server may close before it read everything
      const r = await c.read();
      assert.equal(r?.status, status, req.slice(0, 20));
      if (status === 414) assert.match(String(json(r!).error), /request-target longer/);
      else assert.match(String(json(r!).error), /^method not supported/);
      c.close();
    }
  } finally {
    await s.close();
  }
});
