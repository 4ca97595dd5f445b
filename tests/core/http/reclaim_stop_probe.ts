/**
 * Run with `--v8-flags=--expose-gc`: listens a server with the idle reclaim period given (ms) on
 * loopback, takes one request, closes it, and prints `{"armed": timers added by listen, "left": timers left after
 * close}` (core/async's queue).
 * @module
 */
import { pendingTimers } from "../../../core/async/mod.ts";
import { createServer } from "../../../core/http/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";

const log = createLogger({ service: "t", sink: () => {} });
const before = pendingTimers();
const server = createServer({
  service: "t",
  host: "127.0.0.1",
  port: 0,
  log,
  idleReclaimMs: Number(Deno.args[0]),
});
const svc = await server.listen();
const armed = pendingTimers() - before;
await (await fetch(`${svc.url}/nothing-here`)).body?.cancel();
await svc.close();
console.log(JSON.stringify({ armed, left: pendingTimers() - before }));
