/**
 * Run with `--v8-flags=--expose-gc`: serves three requests on one keep-alive connection through
 * a raw route, leaves the connection open and idle, collects, and prints whether each answer
 * (its header list) is still held (`{"held":[bool,bool,bool],"open":bool}`).
 * @module
 */
import { createServer, type RawRoute } from "../../../../core/http/mod.ts";
import { createLogger } from "../../../../core/log/mod.ts";
import { RawConn } from "../../../support/raw_http.ts";

const gc = (globalThis as unknown as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

const answers: WeakRef<object>[] = [];
const route: RawRoute = {
  route: "/idle",
  serve() {
    const headers: Array<[string, string]> = [["x-n", String(answers.length)]];
    answers.push(new WeakRef(headers));
    return { status: 200, headers, body: "ok" };
  },
};
const server = createServer({
  service: "probe",
  host: "127.0.0.1",
  port: 0,
  log: createLogger({ service: "probe", sink: () => {} }),
  rawRoutes: (method, path) => method === "POST" && path === "/idle" ? route : undefined,
});
const svc = await server.listen();
const conn = await RawConn.open(Number(new URL(svc.url).port));
for (let i = 0; i < 3; i++) {
  await conn.write("POST /idle HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi");
  const res = await conn.read();
  if (res?.status !== 200) throw new Error(`request ${i}: ${res?.status}`);
}
// The connection now waits for its next request head.
for (let i = 0; i < 5; i++) {
  await new Promise((r) => setTimeout(r, 0));
  gc();
}
const held = answers.map((a) => a.deref() !== undefined);
const open = !(await conn.closed(50));
console.log(JSON.stringify({ held, open }));
conn.close();
await svc.close();
