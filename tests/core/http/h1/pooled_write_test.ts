/**
 * Answers written from pooled buffers to a client that reads late: the socket takes them in
 * pieces (or makes the writer wait), and each answer still arrives whole, in order, with its own
 * bytes, its header fields as the route gave them.
 */
import assert from "node:assert/strict";
import { createServer, type RawRoute } from "../../../../core/http/mod.ts";
import { createLogger } from "../../../../core/log/mod.ts";
import { header, RawConn } from "../../../support/raw_http.ts";

const enc = new TextEncoder();
/** Bytes of each answer's body: the most a pooled buffer takes with its head. */
const BODY = 16 * 1024;

Deno.test("pipelined answers that fill the socket arrive whole, in order, each its own", async () => {
  const route: RawRoute = {
    route: "/fill",
    serve(req) {
      const n = Number(req.header("x-n"));
      const letter = String.fromCharCode(97 + (n % 26));
      return { status: 200, headers: [["x-n", String(n)]], body: enc.encode(letter.repeat(BODY)) };
    },
  };
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log: createLogger({ service: "t", sink: () => {} }),
    rawRoutes: (method, path) => method === "POST" && path === "/fill" ? route : undefined,
  });
  const svc = await server.listen();
  const c = await RawConn.open(Number(new URL(svc.url).port));
  try {
    // About 6.5 MB of answers before the client reads any: more than loopback socket buffers
    // hold, so the server's writes are taken in pieces or wait.
    const count = 400;
    let requests = "";
    for (let n = 0; n < count; n++) {
      requests +=
        `POST /fill HTTP/1.1\r\nHost: localhost\r\nX-N: ${n}\r\nContent-Length: 0\r\n\r\n`;
    }
    await c.write(requests);
    for (let n = 0; n < count; n++) {
      const r = await c.read();
      assert.equal(r?.status, 200);
      assert.equal(header(r!, "x-n"), String(n));
      assert.ok(header(r!, "x-request-id"));
      assert.equal(r?.body, String.fromCharCode(97 + (n % 26)).repeat(BODY), `answer ${n}`);
    }
  } finally {
    c.close();
    await svc.close();
  }
});

Deno.test("an answer's long field value beyond ASCII goes out one byte per char, not as UTF-8", async () => {
  // Values of 16 chars and more are encoded in one call, which writes UTF-8: a value with a
  // char beyond ASCII must be written again one byte per char.
  const values = [
    "caf\u00e9 au lait, s'il vous pla\u00eet",
    "\u00ff".repeat(20),
    "plain-ascii-value-0001",
  ];
  const route: RawRoute = {
    route: "/v",
    serve(req) {
      const v = values[Number(req.header("x-n"))];
      return { status: 200, headers: [["x-v", v], ["x-after", "1"]], body: "ok" };
    },
  };
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log: createLogger({ service: "t", sink: () => {} }),
    rawRoutes: (method, path) => method === "GET" && path === "/v" ? route : undefined,
  });
  const svc = await server.listen();
  const c = await RawConn.open(Number(new URL(svc.url).port));
  try {
    for (let round = 0; round < 2; round++) {
      for (let n = 0; n < values.length; n++) {
        await c.write(`GET /v HTTP/1.1\r\nHost: localhost\r\nX-N: ${n}\r\n\r\n`);
        const r = await c.read();
        assert.equal(r?.status, 200);
        assert.equal(header(r!, "x-v"), values[n]);
        assert.equal(header(r!, "x-after"), "1");
        assert.equal(r?.body, "ok");
      }
    }
  } finally {
    c.close();
    await svc.close();
  }
});
