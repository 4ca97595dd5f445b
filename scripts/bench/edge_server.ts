/**
 * The servers the edge benchmark compares on one trivial route (GET /hello, a small JSON
 * body), two pairs that differ only in what accepts the connection:
 * - `h1`: core/http's HTTP/1.1 edge with a plain handler; `bare`: Deno.serve, same handler.
 * - `edge`: createServer (the edge, Hono and the middlewares); `hono`: Deno.serve running the
 *   very same Hono app (the stack before the edge replaced Deno.serve).
 *
 * Usage: deno run -A scripts/bench/edge_server.ts h1|bare|edge|hono PORT
 * @module
 */
import { createServer, errorBody, jsonResponse, serveHttp1 } from "../../core/http/mod.ts";
import { createLogger } from "../../core/log/mod.ts";

const USAGE = "Usage: deno run -A scripts/bench/edge_server.ts h1|bare|edge|hono PORT";
if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(`${USAGE}
Serves GET /hello on 127.0.0.1:PORT with the server KIND (started by scripts/bench/edge.ts).`);
  Deno.exit(0);
}
const [kind, portArg] = Deno.args;
const port = Number(portArg);
const body = { hello: "world" };
const log = createLogger({ service: "bench", level: "warn" });
const handle = () => Response.json(body);

if (kind === "edge" || kind === "hono") {
  const server = createServer({ service: "bench", host: "127.0.0.1", port, log });
  const app = await server.loadApp();
  app.get("/hello", (c) => c.json(body));
  if (kind === "edge") await server.listen();
  else Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, app.fetch);
} else if (kind === "h1") {
  serveHttp1({
    hostname: "127.0.0.1",
    port,
    limits: {
      maxBodyBytes: 1 << 20,
      headerTimeoutMs: 10_000,
      bodyTimeoutMs: 30_000,
      idleTimeoutMs: 60_000,
      maxHeaderBytes: 16 << 10,
      maxUrlBytes: 8 << 10,
      maxHeaderFields: 100,
    },
    maxConnections: 4096,
    log,
    handle: () => Promise.resolve(handle()),
    errorResponse: (err) => jsonResponse(err.status, errorBody(err.message, "")),
    events: { refused() {}, shed() {}, protocolError() {}, timedOut() {}, acceptError() {} },
  });
} else if (kind === "bare") {
  Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, handle);
} else {
  console.error(USAGE);
  Deno.exit(2);
}
