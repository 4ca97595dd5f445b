/**
 * Shared chunks (`shareChunk`): chunks streamed on several connections at once, and more than
 * once on each, arrive whole and correctly framed everywhere, beside chunks not registered; shared
 * chunks queued on several connections behind writes in flight are joined into one buffer.
 * @module
 */
import assert from "node:assert/strict";
import { createServer, shareChunk } from "../../../../core/http/mod.ts";
import { joinChunks } from "../../../../core/http/h1/framing.ts";
import { SocketPush } from "../../../../core/http/h1/push.ts";
import { SocketWriter } from "../../../../core/http/h1/response.ts";
import { createLogger } from "../../../../core/log/mod.ts";
import { RawConn } from "../../../support/raw_http.ts";
import { runGcProbe } from "../../../support/gc_probe.ts";

const enc = new TextEncoder();
const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`;

/** A stream of `chunks`, each enqueued after the previous one was read. */
function streamOf(chunks: Array<() => Uint8Array>): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      await Promise.resolve();
      if (i < chunks.length) ctrl.enqueue(chunks[i++]());
      else ctrl.close();
    },
  }, { highWaterMark: 0 });
}

Deno.test("a shared chunk streamed on many connections arrives whole on each", async () => {
  const log = createLogger({ service: "t", sink: () => {} });
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log });
  const app = await server.loadApp();
  const frame = shareChunk(enc.encode("data: shared\n\n"));
  const other = shareChunk(enc.encode(`data: ${"x".repeat(300)}\n\n`));
  app.get("/shared", () => new Response(streamOf([() => frame, () => other, () => frame])));
  app.get(
    "/mixed",
    () => new Response(streamOf([() => enc.encode("own;"), () => frame, () => enc.encode("own")])),
  );
  const svc = await server.listen();
  const port = Number(new URL(svc.url).port);
  const conns = await Promise.all([1, 2, 3].map(() => RawConn.open(port)));
  try {
    await Promise.all(conns.map((c) => c.write(GET("/shared") + GET("/mixed"))));
    const want = `data: shared\n\ndata: ${"x".repeat(300)}\n\ndata: shared\n\n`;
    for (const c of conns) {
      const r = await c.read();
      assert.equal(r?.framing, "chunked");
      assert.equal(r?.body, want);
      const again = await c.read();
      assert.equal(again?.body, "own;data: shared\n\nown");
    }
  } finally {
    for (const c of conns) c.close();
    await svc.close();
  }
});

/** A connection whose writes are taken only when the test says so. */
class HeldConn {
  readonly writes: Uint8Array[] = [];
  readonly #taken: Array<() => void> = [];
  write(bytes: Uint8Array): Promise<number> {
    this.writes.push(bytes);
    return new Promise((r) => this.#taken.push(() => r(bytes.length)));
  }
  /** The socket takes every write made so far. */
  async take(): Promise<void> {
    for (const t of this.#taken.splice(0)) t();
    await new Promise((r) => setTimeout(r, 0));
  }
}

const NO_PUSH_HOOKS = { writing: () => {}, pushEnded: () => {} };
const NO_SOURCE = { open: () => {}, drained: () => {}, closed: () => {} };

/** Pushed bodies on `n` connections, each with its head's write still in flight. */
function heldPushes(n: number, chunked = true) {
  return Array.from({ length: n }, () => {
    const conn = new HeldConn();
    const out = new SocketWriter(conn as unknown as Deno.Conn);
    const sink = new SocketPush(out, NO_SOURCE, chunked, NO_PUSH_HOOKS, true);
    sink.start(enc.encode("HTTP/1.1 200 OK\r\n\r\n"));
    return { conn, sink };
  });
}

Deno.test("shared chunks queued behind a write in flight are joined once for every connection", async () => {
  const a = shareChunk(enc.encode("data: a\n\n"));
  const b = shareChunk(enc.encode(`data: ${"b".repeat(200)}\n\n`));
  const pushes = heldPushes(3);
  for (const { sink } of pushes) {
    sink.write(a);
    sink.write(b);
  }
  for (const { conn } of pushes) await conn.take();
  const joined = pushes.map(({ conn }) => conn.writes[1]);
  const want = `9\r\ndata: a\n\n\r\n${(208).toString(16)}\r\ndata: ${"b".repeat(200)}\n\n\r\n`;
  for (const j of joined) assert.equal(new TextDecoder().decode(j), want);
  assert.ok(joined[1] === joined[0] && joined[2] === joined[0], "one joined buffer, shared");
});

Deno.test("chunks not registered as shared are joined for their own connection", async () => {
  const a = shareChunk(enc.encode("data: a\n\n"));
  const pushes = heldPushes(2);
  for (const { sink } of pushes) {
    sink.write(a);
    sink.write(enc.encode("data: own\n\n"));
  }
  for (const { conn } of pushes) await conn.take();
  const [x, y] = pushes.map(({ conn }) => conn.writes[1]);
  assert.deepEqual(x, y);
  assert.notEqual(x, y, "a connection's own bytes are never another's buffer");
  // A list joined before does not stand in for another with the same last chunk.
  const c = shareChunk(enc.encode("data: c\n\n"));
  const d = shareChunk(enc.encode("data: d\n\n"));
  assert.equal(new TextDecoder().decode(joinChunks([c, d], 18)), "data: c\n\ndata: d\n\n");
  assert.equal(new TextDecoder().decode(joinChunks([d], 9)), "data: d\n\n");
  assert.equal(new TextDecoder().decode(joinChunks([a, d], 18)), "data: a\n\ndata: d\n\n");
  assert.equal(joinChunks([], 0).length, 0);
});

Deno.test("a join ending with a chunk that lives on holds neither the join nor its chunks", async () => {
  // The relay's heartbeat frame is shared and lives as long as the server: a join of a slow
  // subscriber's queue that ends with it (up to the queue's bound) must not outlive its writes.
  const probe = new URL("./join_retention_probe.ts", import.meta.url);
  assert.deepEqual(await runGcProbe(probe), { chunk: false, joined: false, heartbeat: 13 });
});

Deno.test("a buffer not registered as shared, changed between two connections' writes, is never joined stale", async () => {
  // Unframed (an HTTP/1.0 stream): the connections queue the caller's own buffer as it is. A
  // buffer the caller reuses after writing it is its own: a join of it is never shared.
  const a = shareChunk(enc.encode("data: a\n\n"));
  const own = enc.encode("data: 1\n\n");
  const [p, q] = heldPushes(2, false);
  p.sink.write(a);
  p.sink.write(own);
  await p.conn.take();
  own.set(enc.encode("data: 2\n\n"));
  q.sink.write(a);
  q.sink.write(own);
  await q.conn.take();
  assert.equal(new TextDecoder().decode(q.conn.writes[1]), "data: a\n\ndata: 2\n\n");
});
