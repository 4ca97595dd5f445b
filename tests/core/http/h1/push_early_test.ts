/**
 * A pushed body that ends before the connection's request loop got its sink back (here: socket
 * writes that complete at once, and a producer that writes and ends inside open()): the loop goes
 * on exactly once, to the next pipelined request, and the answers are whole and in order.
 * @module
 */
import assert from "node:assert/strict";
import { Connection } from "../../../../core/http/h1/connection.ts";
import type { ConnectionContext } from "../../../../core/http/h1/context.ts";
import { pushStream } from "../../../../core/http/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A socket whose writes are taken at once and whose reads give `input`, then wait forever. */
function fakeConn(input: Uint8Array): { conn: Deno.Conn; written: () => string } {
  let sent = false;
  let out = "";
  const conn = {
    read(p: Uint8Array): Promise<number | null> {
      if (sent) return new Promise(() => {});
      sent = true;
      p.set(input);
      return Promise.resolve(input.length);
    },
    write(p: Uint8Array): Promise<number> {
      out += dec.decode(p);
      return Promise.resolve(p.length);
    },
    close() {},
    closeWrite: () => Promise.resolve(),
  } as unknown as Deno.Conn;
  return { conn, written: () => out };
}

Deno.test("a pushed body that ends before the request loop resumes: the next request is served once", async () => {
  let opened = 0;
  const errors: unknown[] = [];
  const closed = Promise.withResolvers<void>();
  const ctx: ConnectionContext = {
    limits: {
      maxUrlBytes: 8192,
      maxHeaderFields: 100,
      maxHeaderBytes: 16384,
      maxBodyBytes: 1 << 20,
      headerTimeoutMs: 0,
      bodyTimeoutMs: 0,
      idleTimeoutMs: 0,
    },
    readCapacity: 65536,
    scheme: "http",
    authority: "t:80",
    draining: false,
    handle: (req) => {
      if (new URL(req.url).pathname === "/plain") return Promise.resolve(new Response("plain"));
      return Promise.resolve(
        new Response(pushStream({
          open(sink) {
            opened++;
            sink.write(enc.encode(`at once ${opened}`));
            sink.end();
          },
          drained() {},
          closed() {},
        })),
      );
    },
    rawRoute: () => undefined,
    errorResponse: (err) => new Response(err.message, { status: err.status }),
    protocolError: () => {},
    timedOut: () => {},
    connectionError: (err) => errors.push(err),
    closed: () => closed.resolve(),
  };
  const get = (path: string, v = "1.1") => `GET ${path} HTTP/${v}\r\nHost: localhost\r\n\r\n`;
  const { conn, written } = fakeConn(
    enc.encode(get("/now") + get("/now") + get("/plain") + get("/now", "1.0")),
  );
  const c = new Connection(conn, ctx);
  c.serve();
  await closed.promise; // the HTTP/1.0 answer ends the connection
  const out = written();
  assert.deepEqual(errors, []);
  assert.equal(opened, 3, "each pushed request served once");
  assert.deepEqual([...out.matchAll(/HTTP\/1\.1 200/g)].length, 4);
  const bodies = [...out.matchAll(/at once \d|\r\n\r\nplain/g)].map((m) => m[0].trim());
  assert.deepEqual(bodies, ["at once 1", "at once 2", "plain", "at once 3"]);
  assert.ok(out.includes("\r\n0\r\n\r\n"), "the chunked answers end with the last chunk");
});
