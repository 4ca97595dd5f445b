/**
 * The relay benchmark's floor peer: a bare Deno server, no relay, no HTTP edge, that answers
 * every connection with an SSE head and then writes each event to every socket with one
 * `conn.write` (the least a Deno fan-out can do), so the relay's fan-out figures can be read
 * against what Deno's socket writes alone cost on the same host in the same run.
 * Prints `listening PORT`; reads `go EVENTS INTERVAL_MS` on stdin, writes EVENTS frames (with the
 * publish time `"t"` the subscribers time), one every INTERVAL_MS, then prints `done`.
 * Usage: deno run --allow-net scripts/bench/relay_floor.ts
 * @module
 */
import { sleep } from "../../core/async/mod.ts";

const enc = new TextEncoder();
const HEAD = enc.encode(
  "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n" +
    "retry: 2000\n\n",
);
const PAD = "x".repeat(100);
const conns = new Set<Deno.Conn>();

/** Reads the request head (dropped), answers the SSE head, and watches for the client leaving. */
async function serve(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  try {
    if (await conn.read(buf) === null) return;
    await conn.write(HEAD);
    conns.add(conn);
    while (await conn.read(buf) !== null) { /* the client sends nothing more */ }
  } catch { /* gone */ }
  conns.delete(conn);
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** One relay-shaped frame. */
function frame(seq: number): Uint8Array {
  const data = JSON.stringify({
    event_id: crypto.randomUUID(),
    seq,
    ts: new Date().toISOString(),
    topic: "fan",
    payload: { t: performance.timeOrigin + performance.now(), pad: PAD },
  });
  return enc.encode(`id: floor-${seq}\nevent: message\ndata: ${data}\n\n`);
}

async function fanOut(events: number, intervalMs: number): Promise<void> {
  const ignore = () => {};
  for (let seq = 1; seq <= events; seq++) {
    const f = frame(seq);
    for (const c of conns) c.write(f).then(ignore, ignore);
    await sleep(intervalMs);
  }
}

if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(`Usage: deno run --allow-net scripts/bench/relay_floor.ts
Prints "listening PORT"; on "go EVENTS INTERVAL_MS" (stdin) writes EVENTS frames to every
connection, one every INTERVAL_MS, then prints "done" (started by scripts/bench/relay.ts).`);
  Deno.exit(0);
}
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
(async () => {
  for await (const conn of listener) serve(conn);
})();
console.log(`listening ${listener.addr.port}`);
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let pending = "";
for await (const text of lines) {
  pending += text;
  let nl: number;
  while ((nl = pending.indexOf("\n")) >= 0) {
    const [cmd, events, interval] = pending.slice(0, nl).trim().split(/\s+/);
    pending = pending.slice(nl + 1);
    if (cmd === "go") {
      await fanOut(Number(events), Number(interval));
      console.log("done");
    }
  }
}
listener.close();
Deno.exit(0);
