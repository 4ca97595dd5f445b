// The edge's socket reader over a real loopback connection: reads land after what is buffered,
// an emptied buffer is read into from its start, and the end of the stream is reported once.
import assert from "node:assert/strict";
import { SocketReader } from "../../../../core/http/h1/reader.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("reads land after the unread bytes, and from the start once all were consumed", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await listener.accept();
  try {
    const r = new SocketReader(server, 64 * 1024);
    const text = () => dec.decode(r.buf.subarray(r.start, r.end));
    await client.write(enc.encode("abc"));
    assert.equal(await r.more(), true);
    assert.equal(text(), "abc");
    // Bytes left unread: the next read appends to them.
    r.consume(1);
    await client.write(enc.encode("de"));
    while (r.buffered < 4) assert.equal(await r.more(), true);
    assert.equal(text(), "bcde");
    // All consumed: the next read fills the buffer from its start.
    r.consume(r.buffered);
    assert.equal(r.start, 0);
    assert.equal(r.end, 0);
    await client.write(enc.encode("fghi"));
    while (r.buffered < 4) assert.equal(await r.more(), true);
    assert.equal(r.start, 0);
    assert.equal(text(), "fghi");
    client.close();
    r.consume(r.buffered);
    assert.equal(await r.more(), false);
    assert.equal(r.eof, true);
  } finally {
    try {
      client.close();
    } catch { /* closed above */ }
    server.close();
    listener.close();
  }
});

Deno.test("the reader's view is of exactly its buffer, as the buffer grows, is let go and is remade", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await listener.accept();
  const ofBuf = (r: SocketReader) =>
    r.view.buffer === r.buf.buffer && r.view.byteOffset === r.buf.byteOffset &&
    r.view.byteLength === r.buf.byteLength;
  try {
    const r = new SocketReader(server, 64 * 1024);
    assert.ok(ofBuf(r), "as made");
    // Unread bytes up to the buffer's end: it grows.
    const first = r.buf;
    await client.write(new Uint8Array(6000).fill(97));
    while (r.buffered < 6000) assert.equal(await r.more(), true);
    assert.notEqual(r.buf, first);
    assert.ok(ofBuf(r), "grown");
    assert.equal(r.view.getUint8(5999), 97);
    // Let go with nothing buffered, then remade by a read-ahead's bytes.
    r.consume(r.buffered);
    r.release();
    assert.equal(r.buf.length, 0);
    assert.ok(ofBuf(r), "let go");
    await client.write(enc.encode("xyz"));
    assert.equal(await r.watch(), true);
    assert.ok(r.buf.length > 0);
    assert.ok(ofBuf(r), "remade");
    assert.equal(r.view.getUint8(r.start + 2), 122);
  } finally {
    client.close();
    server.close();
    listener.close();
  }
});

Deno.test("onEnd is told once how the read in flight ended, before what awaits that read resumes", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await listener.accept();
  try {
    const r = new SocketReader(server, 64 * 1024);
    const order: string[] = [];
    // A read-ahead (the probe) and a wait on the same read, as the edge has while a handler runs.
    r.watch();
    r.onEnd = (ok) => order.push(`onEnd ${ok} ${r.buffered}`);
    const waiting = r.more().then((ok) => order.push(`more ${ok}`));
    await client.write(enc.encode("GET"));
    await waiting;
    assert.deepEqual(order, ["onEnd true 3", "more true"]);
    assert.equal(r.onEnd, undefined, "told once, then let go");
    // A later read tells no one.
    await client.write(enc.encode(" /"));
    assert.equal(await r.more(), true);
    assert.equal(order.length, 2);
    // The end of the stream, and a failed read, are told as false.
    r.onEnd = (ok) => order.push(`onEnd ${ok} eof ${r.eof}`);
    const ended = r.more();
    client.close();
    assert.equal(await ended, false);
    assert.deepEqual(order.slice(2), ["onEnd false eof true"]);
  } finally {
    try {
      client.close();
    } catch { /* closed above */ }
    server.close();
    listener.close();
  }
});
