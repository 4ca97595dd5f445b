/**
 * Heads written as bytes keep the lines of repeated field values (core/http/wire): what they
 * keep must never hold a secret once its exchange is over. A secret field's value (the client's
 * Authorization) is not kept, and neither is a string that may be V8's view into a whole request
 * head (a value of 13 chars or more cut from it): that view keeps the head alive, and with it the
 * request's Authorization and cookies. Checked in a heap snapshot taken after the exchanges.
 */
import assert from "node:assert/strict";
import { Session } from "node:inspector";
import { createServer, type RawRoute } from "../../../core/http/mod.ts";
import { createOriginClient, type OriginClient } from "../../../core/http/client/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";

const enc = new TextEncoder();

/** Random lower-case letters as bytes: a secret no string of this test holds until the end. */
function secretBytes(n: number): Uint8Array {
  const out = crypto.getRandomValues(new Uint8Array(n));
  for (let i = 0; i < n; i++) out[i] = 97 + out[i] % 26;
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Whether `secret` (bytes) is in a string of the heap once the collector ran. */
async function inHeap(secret: Uint8Array): Promise<boolean> {
  const session = new Session();
  session.connect();
  const chunks: string[] = [];
  session.on("HeapProfiler.addHeapSnapshotChunk", (m) => chunks.push(m.params.chunk));
  // The inspector's answer keeps no operation pending: a timer keeps the event loop alive.
  const alive = setInterval(() => {}, 50);
  try {
    await new Promise<void>((resolve, reject) =>
      session.post("HeapProfiler.takeHeapSnapshot", {}, (err) => err ? reject(err) : resolve())
    );
  } finally {
    clearInterval(alive);
    session.disconnect();
  }
  const heap = chunks.join("");
  chunks.length = 0;
  // Made only now: the snapshot held no string of the test's own with it.
  return heap.includes(new TextDecoder("latin1").decode(secret));
}

/** Reads one whole answer (Content-Length framed) off `conn`. */
async function readAnswer(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(16 * 1024);
  let seen = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return seen;
    seen += String.fromCharCode(...buf.subarray(0, n));
    const end = seen.indexOf("\r\n\r\n");
    if (end < 0) continue;
    const length = Number(/content-length: (\d+)/i.exec(seen)?.[1] ?? 0);
    if (seen.length >= end + 4 + length) return seen;
  }
}

Deno.test("an answer's echoed fields keep no request head (its cookie) once written", async () => {
  const route: RawRoute = {
    route: "/echo",
    serve: () => ({ status: 200, headers: [["content-type", "text/plain"]], body: "ok" }),
  };
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log: createLogger({ service: "t", sink: () => {} }),
    rawRoutes: (method, path) => method === "GET" && path === "/echo" ? route : undefined,
  });
  const svc = await server.listen();
  const secret = secretBytes(40);
  try {
    // The same request id twice (its line is then kept), with a cookie beside it.
    for (let i = 0; i < 2; i++) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: Number(new URL(svc.url).port),
      });
      await conn.write(concat([
        enc.encode(
          "GET /echo HTTP/1.1\r\nhost: localhost\r\nx-request-id: request-id-kept-0001\r\n",
        ),
        enc.encode("cookie: session="),
        secret,
        enc.encode("\r\nconnection: close\r\n\r\n"),
      ]));
      const answer = await readAnswer(conn);
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n[^]*x-request-id: request-id-kept-0001\r\n/i);
      conn.close();
    }
  } finally {
    await svc.close();
  }
  assert.equal(await inHeap(secret), false, "the request's cookie is still in the heap");
});

Deno.test("a request's Authorization, and a value cut from a text holding a secret, are not kept once sent", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(64 * 1024);
    let seen = "";
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      seen += String.fromCharCode(...buf.subarray(0, n));
      let end;
      while ((end = seen.indexOf("\r\n\r\n")) >= 0) {
        seen = seen.slice(end + 4);
        await conn.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
      }
    }
    conn.close();
  })();
  const token = secretBytes(40);
  const other = secretBytes(40);
  const pool = createOriginClient(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
  try {
    for (let i = 0; i < 2; i++) await send(pool, token, other);
  } finally {
    pool.close();
    await served;
    listener.close();
  }
  assert.equal(await inHeap(token), false, "the Authorization value is still in the heap");
  assert.equal(await inHeap(other), false, "the text a value was cut from is still in the heap");
});

/**
 * Sends a request with `token` as its Authorization and an Accept value cut from a text that
 * holds `other` (as a forwarded value is a piece of the whole head it came in). Its own frame,
 * done with once it resolves: the test's frame keeps none of these strings.
 */
async function send(pool: OriginClient, token: Uint8Array, other: Uint8Array): Promise<void> {
  const latin1 = new TextDecoder("latin1");
  const inbound = latin1.decode(concat([
    enc.encode("accept: application/problem+json\r\nx-secret: "),
    other,
  ]));
  const r = await pool.send({
    method: "GET",
    target: "/t",
    headers: [
      ["authorization", `Bearer ${latin1.decode(token)}`],
      ["accept", inbound.slice(8, inbound.indexOf("\r\n"))],
    ],
    body: new Uint8Array(0),
    timeoutMs: 5000,
  });
  assert.equal(r.status, 200);
}
