/**
 * Subscribers that replay retained history and never read: N authenticated subscribers on raw
 * sockets subscribe from the start of a topic holding about 24 MB (400 events of 60 KB) and stop
 * reading. Prints JSON per N: the relay's RSS once the replays stalled, what it accounts as held
 * for subscribers (`iatp_relay_subscriber_bytes` in /metrics, when it has it), the subscribers it
 * cut off, and the latency of a publish (to another topic) and of /health from the first
 * subscription until the replays stalled (median and worst).
 * Usage:
 *   deno run -A scripts/bench/relay_stalled.ts [--subs 100,300,500] [-- extra relay flags]
 * @module
 */
import { parseArgs } from "node:util";
import { sleep } from "../../core/async/mod.ts";
import { freePort, startIatpService } from "../../tests/helpers.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    subs: { type: "string", default: "100,300,500" },
    help: { type: "boolean", default: false },
  },
  allowPositionals: true,
});
if (values.help) {
  console.log(
    `Usage: deno run -A scripts/bench/relay_stalled.ts [--subs 100,300,500] [-- relay flags]
  --subs LIST   subscriber counts to measure, one relay each (default 100,300,500)
  -- FLAGS      extra flags for every relay started (e.g. -- --queue-bytes-total 64MiB)`,
  );
  Deno.exit(0);
}
const TOKEN = "bench-token-stalled";
const EVENTS = 400;
const EVENT_BYTES = 60_000;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Math.round(Number(m[1]) / 1024) : -1;
}

async function timed(f: () => Promise<Response>): Promise<number> {
  const t0 = performance.now();
  const r = await f();
  await r.body?.cancel();
  if (r.status >= 300) throw new Error(`status ${r.status}`);
  return Math.round(performance.now() - t0);
}

function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

async function run(n: number) {
  const port = freePort();
  const relay = await startIatpService([
    "relay",
    "--port",
    String(port),
    "--workers",
    "1",
    "--max-subscribers",
    String(n + 100),
    "--max-subscribers-per-principal",
    String(n + 100),
    "--retention-events",
    String(EVENTS),
    ...positionals,
  ], {
    env: {
      IATP_DATA_DIR: Deno.makeTempDirSync({ prefix: "iatp-bench-" }),
      IATP_RELAY_TOKENS: JSON.stringify({ [TOKEN]: ["*"] }),
    },
  });
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
  const publish = (topic: string, payload: unknown) =>
    fetch(`${base}/publish`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ topic, payload }),
    });
  const blob = "x".repeat(EVENT_BYTES);
  for (let i = 0; i < EVENTS; i++) await timed(() => publish("big", { i, blob }));
  const conns: Deno.TcpConn[] = [];
  const req = new TextEncoder().encode(
    `GET /subscribe?topic=big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
  );
  const idle = rssMb(relay.process.pid);
  // A publish (to another topic) and a /health request, one after the other, every 200 ms from
  // the first subscription until the replays stalled.
  const pubs: number[] = [];
  const health: number[] = [];
  let probing = true;
  const probe = (async () => {
    for (let i = 0; probing; i++) {
      pubs.push(await timed(() => publish("probe", { i })));
      health.push(await timed(() => fetch(`${base}/health`)));
      await sleep(200);
    }
  })();
  for (let i = 0; i < n; i++) {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    await c.write(req);
    conns.push(c); // never read
  }
  // The replays stall once their sockets and queues are full: wait for RSS to stop growing and
  // for what the relay holds for subscribers (and the subscribers it cut off) to stop changing.
  let rss = rssMb(relay.process.pid);
  let was = "";
  for (let quiet = 0, i = 0; quiet < 3 && i < 60; i++) {
    await sleep(1000);
    const now = rssMb(relay.process.pid);
    const text = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    const held = metric(text, "iatp_relay_subscriber_bytes") ?? 0;
    const state = `${held} ${metric(text, "iatp_relay_overflows_total")}`;
    const still = now - rss < Math.max(2, rss / 100) && state === was && held > 0;
    quiet = still ? quiet + 1 : 0;
    was = state;
    rss = Math.max(rss, now);
  }
  probing = false;
  await probe;
  rss = Math.max(rss, rssMb(relay.process.pid));
  const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
  for (const c of conns) c.close();
  await relay.stop();
  const mid = (a: number[]) => a.toSorted((x, y) => x - y)[a.length >> 1];
  return {
    subscribers: n,
    rss_idle_mb: idle,
    rss_mb: rss,
    per_subscriber_mb: +((rss - idle) / n).toFixed(2),
    held_mb: ((metric(metrics, "iatp_relay_subscriber_bytes") ?? NaN) / 2 ** 20).toFixed(1),
    overflows: metric(metrics, "iatp_relay_overflows_total"),
    publish_ms: { p50: mid(pubs), max: Math.max(...pubs) },
    health_ms: { p50: mid(health), max: Math.max(...health) },
  };
}

for (const n of values.subs.split(",").map(Number)) console.log(JSON.stringify(await run(n)));
