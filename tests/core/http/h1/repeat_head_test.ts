/**
 * A client that sends the same request head again over one connection (the usual keep-alive
 * client): the head is known from its bytes, whether pipelined, split across reads, followed by
 * a body that looks like a head, or cut off before its end.
 * @module
 */
import assert from "node:assert/strict";
import { createServer } from "../../../../core/http/mod.ts";
import { createLogger } from "../../../../core/log/mod.ts";
import { json, RawConn } from "../../../support/raw_http.ts";

async function setup(): Promise<{ port: number; close(): Promise<void> }> {
  const log = createLogger({ service: "t", sink: () => {} });
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log });
  server.routes((app) => {
    app.post("/echo", async (c) => c.json({ text: await c.req.text() }));
  });
  const svc = await server.listen();
  return { port: Number(new URL(svc.url).port), close: () => svc.close() };
}

const head = (length: number) =>
  `POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: ${length}\r\n\r\n`;

Deno.test("a repeated head: pipelined, split, with a head-like body, differing late", async () => {
  const s = await setup();
  const c = await RawConn.open(s.port);
  try {
    // The same head three times in one write, each with its own body.
    await c.write(`${head(4)}one.${head(4)}two.${head(4)}thr.`);
    for (const text of ["one.", "two.", "thr."]) {
      assert.deepEqual(json((await c.read())!), { text });
    }
    // The same head again, split inside it and inside its body.
    const again = `${head(4)}four`;
    await c.write(again.slice(0, 9));
    await c.write(again.slice(9, again.length - 2));
    await c.write(again.slice(again.length - 2));
    assert.deepEqual(json((await c.read())!), { text: "four" });
    // A body made of the head's own bytes is a body, and the head after it a head.
    const inner = head(4);
    await c.write(`${head(inner.length)}${inner}${head(4)}five`);
    assert.deepEqual(json((await c.read())!), { text: inner });
    assert.deepEqual(json((await c.read())!), { text: "five" });
    // The remembered head is a prefix of a different one up to the length's first digit.
    await c.write(`${head(4)}six.${head(40)}${"7".repeat(40)}`);
    assert.deepEqual(json((await c.read())!), { text: "six." });
    assert.deepEqual(json((await c.read())!), { text: "7".repeat(40) });
  } finally {
    c.close();
    await s.close();
  }
});

Deno.test("a repeated head cut off before its end is refused with 400, not served", async () => {
  const s = await setup();
  const c = await RawConn.open(s.port);
  try {
    await c.write(`${head(2)}ok`);
    assert.deepEqual(json((await c.read())!), { text: "ok" });
    await c.write(head(2).slice(0, -2)); // all but the empty line
    await c.closeWrite();
    const r = await c.read();
    assert.equal(r?.status, 400);
    assert.match(String(json(r!).error), /before the end of the request head/);
  } finally {
    c.close();
    await s.close();
  }
});
