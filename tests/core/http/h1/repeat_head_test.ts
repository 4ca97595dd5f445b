/**
 * A client that sends the same request head again over one connection (the usual keep-alive
 * client): the head is known from its bytes, whether pipelined, split across reads, followed by
 * a body that looks like a head, or cut off before its end.
 * @module
 */
import assert from "node:assert/strict";
import { echoHead, startEchoEdge } from "../../../support/echo_server.ts";
import { json, RawConn } from "../../../support/raw_http.ts";

const setup = startEchoEdge;
const head = echoHead;

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

Deno.test("a keep-alive connection's next head that stops coming is answered 408 within header_timeout", async () => {
  // A head that arrives whole reads no clock for its deadline: one that arrives in part must
  // still start it at its first bytes (the idle deadline, 60 s here, would come much later).
  const s = await setup({ headerTimeoutMs: 300, idleTimeoutMs: 60_000 });
  const c = await RawConn.open(s.port);
  try {
    await c.write(`${head(2)}ok`);
    assert.deepEqual(json((await c.read())!), { text: "ok" });
    await new Promise((r) => setTimeout(r, 100)); // idle a little, then a head in part
    await c.write(head(2).slice(0, 20));
    const r = await c.read(10_000);
    assert.equal(r?.status, 408);
    assert.ok(await c.closed(10_000), "and the connection is closed");
  } finally {
    c.close();
    await s.close();
  }
});

Deno.test("a keep-alive connection's repeated and new heads that arrive whole are served", async () => {
  const s = await setup({ headerTimeoutMs: 300, idleTimeoutMs: 60_000 });
  const c = await RawConn.open(s.port);
  try {
    for (const body of ["ok", "no", "yes"]) {
      // Idle past header_timeout between requests (the first head's deadline runs from accept).
      if (body !== "ok") await new Promise((r) => setTimeout(r, 400));
      await c.write(`${head(body.length)}${body}`);
      assert.deepEqual(json((await c.read())!), { text: body });
    }
  } finally {
    c.close();
    await s.close();
  }
});
