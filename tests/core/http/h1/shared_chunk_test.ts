/**
 * Shared chunks (`shareChunk`): chunks streamed on several connections at once, and more than
 * once on each, arrive whole and correctly framed everywhere, beside chunks not registered.
 * @module
 */
import assert from "node:assert/strict";
import { createServer, shareChunk } from "../../../../core/http/mod.ts";
import { createLogger } from "../../../../core/log/mod.ts";
import { RawConn } from "../../../support/raw_http.ts";

const enc = new TextEncoder();
const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`;

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
