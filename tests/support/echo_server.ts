/**
 * A product HTTP edge with one route, `POST /echo` (answers `{text}` with the body read), on a
 * loopback port: the server the raw-socket head and deadline tests drive.
 * @module
 */
import { createServer } from "../../core/http/mod.ts";
import { createLogger } from "../../core/log/mod.ts";

/** Starts the echo edge with the given deadlines; `close()` stops it. */
export async function startEchoEdge(
  edge: { headerTimeoutMs?: number; idleTimeoutMs?: number } = {},
): Promise<{ port: number; close(): Promise<void> }> {
  const log = createLogger({ service: "t", sink: () => {} });
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log, ...edge });
  server.routes((app) => {
    app.post("/echo", async (c) => c.json({ text: await c.req.text() }));
  });
  const svc = await server.listen();
  return { port: Number(new URL(svc.url).port), close: () => svc.close() };
}

/** The head of a `POST /echo` with a body of `length` bytes. */
export const echoHead = (length: number) =>
  `POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${length}\r\n\r\n`;
