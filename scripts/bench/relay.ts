/**
 * Relay benchmark, against Redis pub/sub in the same run. Prints JSON.
 *   (a) N (default 10,000) concurrent SSE subscribers on one relay: relay RSS, publish->deliver
 *       p50/p99; then the same on a bare Deno fan-out (relay_floor.ts) as a peer;
 *   (b) 1,000 subscribers at 1,000 publishes/s: delivery p50/p99;
 *   (c) messages delivered per second to 100 subscribers, relay vs redis-server.
 * Each phase also reports `relay_cpu_share`, the relay's CPU seconds over the phase's wall
 * seconds (near 1: the relay is the bottleneck), `bench_cpu_share`, the benchmark's own (this
 * process and its subscribers' process), and
 * `events_per_read`, how many events one socket read brought the subscribers.
 * The relay runs as `iatp relay` with its table permissions in a child process. The subscribers
 * of the relay and of Redis are the same compiled client (relay_load.go, built with `go`), so
 * their parsing weighs little next to the servers on a small host. The publishers of (c) live in
 * that client too, alike for both servers (16 keep-alive connections, one request in flight
 * each: POST /publish for the relay, PUBLISH for Redis), and (c) reports each server's CPU per
 * delivery, which no client sets; those of (a) and (b) are keep-alive connections in this
 * process (they stamp each event with its publish time). Usage:
 *   deno run -A scripts/bench/relay.ts [--subs 10000] [--rate-secs 3] [--messages 20000]
 *     [--only a,b,c]
 * @module
 */
import { parseArgs } from "node:util";
import { sleep } from "../../core/async/mod.ts";
import { freePort, startIatpService } from "../../tests/helpers.ts";
import { HttpPub, type LoadStats, overflows, SubscriberLoad } from "./relay_clients.ts";
import { cpuSeconds } from "./tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    subs: { type: "string", default: "10000" },
    "rate-secs": { type: "string", default: "3" },
    messages: { type: "string", default: "20000" },
    only: { type: "string", default: "a,b,c" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(`Usage: deno run -A scripts/bench/relay.ts [options]   (needs redis-server and go)
  --subs N        subscribers of phase a, the fan-out (default 10000)
  --rate-secs S   seconds of phase b, 1,000 subscribers at 1,000 publishes/s (default 3)
  --messages N    publishes of phase c, 100 subscribers, against redis-server (default 20000)
  --only LIST     phases to run, comma separated: a, b, c (default a,b,c)`);
  Deno.exit(0);
}
const SUBS_A = Number(values.subs);
const RATE_SECS = Number(values["rate-secs"]);
const MESSAGES_C = Number(values.messages);
const PUBLISHERS = 16;
const PAD = "x".repeat(100);

const now = () => performance.timeOrigin + performance.now();

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Math.round(Number(m[1]) / 1024) : -1;
}

/**
 * Measures how busy `pid` is while `phase` runs: its CPU seconds over the wall seconds. Near 1
 * the relay is the bottleneck; well below it, the benchmark's own clients (same host) are.
 */
async function busy<T>(
  pid: number,
  phase: () => Promise<T>,
): Promise<[T, number, number, number]> {
  const cpu0 = cpuSeconds(pid);
  const own0 = cpuSeconds(Deno.pid) + cpuSeconds(load.pid);
  const t0 = performance.now();
  const out = await phase();
  const wall = (performance.now() - t0) / 1000;
  const share = (cpuSeconds(pid) - cpu0) / wall;
  const own = (cpuSeconds(Deno.pid) + cpuSeconds(load.pid) - own0) / wall;
  return [out, +share.toFixed(2), +own.toFixed(2), +(cpuSeconds(pid) - cpu0).toFixed(2)];
}

async function startRelay() {
  const port = freePort();
  const relay = await startIatpService([
    "relay",
    "--port",
    String(port),
    "--max-subscribers",
    String(SUBS_A + 1000),
    "--heartbeat",
    "30s",
    "--workers",
    "1",
  ], { env: { IATP_DATA_DIR: Deno.makeTempDirSync({ prefix: "iatp-bench-" }) } });
  return { relay, port };
}

/** Keep-alive publishing connections to a relay, each with one request in flight at most. */
class Publishers {
  readonly #free: HttpPub[] = [];
  readonly #waiting: Array<(p: HttpPub) => void> = [];
  readonly #all: HttpPub[] = [];

  static async open(port: number, n: number): Promise<Publishers> {
    const p = new Publishers();
    for (let i = 0; i < n; i++) {
      const c = new HttpPub();
      await c.connect(port);
      p.#all.push(c);
      p.#free.push(c);
    }
    return p;
  }

  /** Publishes on a free connection (waiting for one); throws unless the relay answered 200. */
  async publish(topic: string, payload: Record<string, unknown>): Promise<void> {
    const c = this.#free.pop() ?? await new Promise<HttpPub>((r) => this.#waiting.push(r));
    try {
      const status = await c.post("/publish", JSON.stringify({ topic, payload }));
      if (status !== 200) throw new Error(`publish answered ${status}`);
    } finally {
      const next = this.#waiting.shift();
      if (next) next(c);
      else this.#free.push(c);
    }
  }

  close(): void {
    for (const c of this.#all) c.close();
  }
}

/** Events per socket read: how many events one server write carried on average. */
function perRead(st: LoadStats): number {
  return +(st.count / Math.max(1, st.reads)).toFixed(2);
}

function latency(st: LoadStats) {
  return { samples: st.samples, p50_ms: st.p50_ms, p99_ms: st.p99_ms, max_ms: st.max_ms };
}

async function waitCount(count: () => Promise<number>, target: number, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  let got = await count();
  while (got < target && Date.now() < end) {
    await sleep(20);
    got = await count();
  }
  return got;
}

/** (a) Many idle subscribers: memory, and latency of a paced trickle of publishes. */
async function fanout() {
  const { relay, port } = await startRelay();
  try {
    const rssIdle = rssMb(relay.process.pid);
    const t0 = performance.now();
    await load.sse(port, "topic=fan", SUBS_A);
    const connectSecs = (performance.now() - t0) / 1000;
    const rssConnected = rssMb(relay.process.pid);
    const events = 50;
    const pubs = await Publishers.open(port, 1);
    const [delivered, relayBusy, benchBusy, relayCpu] = await busy(relay.process.pid, async () => {
      for (let i = 0; i < events; i++) {
        await pubs.publish("fan", { t: now(), pad: PAD });
        await sleep(100);
      }
      return await waitCount(() => load.count(), events * SUBS_A, 60_000);
    });
    const rssAfter = rssMb(relay.process.pid);
    const cutOff = await overflows(relay.url);
    pubs.close();
    const st = await load.close();
    return {
      subscribers: SUBS_A,
      connect_secs: +connectSecs.toFixed(2),
      relay_rss_mb: { idle: rssIdle, connected: rssConnected, after_publishing: rssAfter },
      events,
      delivered,
      overflows: cutOff,
      relay_cpu_share: relayBusy,
      relay_cpu_s: relayCpu,
      bench_cpu_share: benchBusy,
      events_per_read: perRead(st),
      cpu_us_per_read: +(relayCpu * 1e6 / Math.max(1, st.reads)).toFixed(1),
      latency: latency(st),
    };
  } finally {
    await relay.stop();
  }
}

/**
 * (a, peer) The same subscribers and events on a bare Deno fan-out (relay_floor.ts: one
 * `conn.write` per socket per event, no relay, no HTTP edge, no coalescing) in its own process:
 * what Deno's socket writes alone cost on this host now (`cpu_us_per_read` against the relay's).
 */
async function fanoutBare(events: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      decodeURIComponent(new URL("./relay_floor.ts", import.meta.url).pathname),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const line = async () => {
    while (!out.includes("\n")) {
      const r = await lines.read();
      if (r.done) throw new Error("relay_floor.ts ended early");
      out += r.value;
    }
    const nl = out.indexOf("\n");
    const l = out.slice(0, nl);
    out = out.slice(nl + 1);
    return l;
  };
  try {
    const port = Number((await line()).split(" ")[1]);
    const rssIdle = rssMb(child.pid);
    await load.sse(port, "topic=fan", SUBS_A);
    const rssConnected = rssMb(child.pid);
    const [, share, benchBusy, cpu] = await busy(child.pid, async () => {
      await stdin.write(new TextEncoder().encode(`go ${events} 100\n`));
      await line();
      return await waitCount(() => load.count(), events * SUBS_A, 60_000);
    });
    const rssAfter = rssMb(child.pid);
    const st = await load.close();
    return {
      rss_mb: { idle: rssIdle, connected: rssConnected, after_publishing: rssAfter },
      delivered: st.count,
      cpu_share: share,
      cpu_s: cpu,
      bench_cpu_share: benchBusy,
      events_per_read: perRead(st),
      cpu_us_per_read: +(cpu * 1e6 / Math.max(1, st.reads)).toFixed(1),
      latency: latency(st),
    };
  } finally {
    await stdin.close().catch(() => {});
    await child.status;
    lines.releaseLock();
  }
}

/** (b) 1,000 subscribers at 1,000 publishes/s. */
async function steadyRate() {
  const { relay, port } = await startRelay();
  try {
    await load.sse(port, "topic=rate", 1000);
    const total = 1000 * RATE_SECS;
    const pubs = await Publishers.open(port, 64);
    let achieved = 0;
    const [delivered, relayBusy, benchBusy, relayCpu] = await busy(relay.process.pid, async () => {
      const start = performance.now();
      const inflight: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const due = start + i; // one publish per millisecond
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        inflight.push(pubs.publish("rate", { t: now(), i }));
        if (inflight.length >= 64) await inflight.shift();
      }
      await Promise.all(inflight);
      achieved = total / ((performance.now() - start) / 1000);
      return await waitCount(() => load.count(), total * 1000, 60_000);
    });
    const cutOff = await overflows(relay.url);
    pubs.close();
    const st = await load.close();
    return {
      subscribers: 1000,
      publishes: total,
      achieved_publish_rate: Math.round(achieved),
      delivered,
      overflows: cutOff,
      relay_cpu_share: relayBusy,
      relay_cpu_s: relayCpu,
      bench_cpu_share: benchBusy,
      events_per_read: perRead(st),
      cpu_us_per_read: +(relayCpu * 1e6 / Math.max(1, st.reads)).toFixed(1),
      latency: latency(st),
    };
  } finally {
    await relay.stop();
  }
}

/** (c) Throughput to 100 subscribers: the relay vs Redis pub/sub. */
async function throughput() {
  const { relay, port } = await startRelay();
  let relayRate: number, relayBusy: number, relayCpu: number, benchBusy: number;
  let relayPerRead: number, relayOverflows: number, relayDelivered: number, relayBytes: number;
  let redisBusy: number, redisShare: number, redisPerRead: number, redisCpu: number;
  let redisDelivered: number, redisBytes: number;
  // Nothing here reads the delays: the subscribers frame and count, and measure no time.
  await load.stamps(false);
  try {
    await load.sse(port, "topic=thr", 100);
    const t0 = performance.now();
    let got: number;
    [got, relayBusy, benchBusy, relayCpu] = await busy(relay.process.pid, async () => {
      await load.publishHttp(port, "thr", MESSAGES_C, PUBLISHERS, PAD);
      return await waitCount(() => load.count(), MESSAGES_C * 100, 120_000);
    });
    relayRate = got / ((performance.now() - t0) / 1000);
    relayDelivered = got;
    relayOverflows = await overflows(relay.url);
    const st = await load.close();
    relayPerRead = perRead(st);
    relayBytes = st.bytes / Math.max(1, st.count);
  } finally {
    await relay.stop();
  }
  const redisPort = freePort();
  const redis = new Deno.Command("redis-server", {
    args: ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  let redisRate: number;
  try {
    let ready = false;
    for (let i = 0; i < 200 && !ready; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: redisPort })).close();
        ready = true;
      } catch {
        await sleep(25);
      }
    }
    await load.redis(redisPort, "thr", 100);
    const t0 = performance.now();
    let got: number;
    [got, redisShare, redisBusy, redisCpu] = await busy(redis.pid, async () => {
      await load.publishRedis(redisPort, "thr", MESSAGES_C, PUBLISHERS, PAD);
      return await waitCount(() => load.count(), MESSAGES_C * 100, 120_000);
    });
    redisRate = got / ((performance.now() - t0) / 1000);
    redisDelivered = got;
    const st = await load.close();
    redisPerRead = perRead(st);
    redisBytes = st.bytes / Math.max(1, st.count);
  } finally {
    redis.kill("SIGTERM");
    await redis.status;
    await load.stamps(true);
  }
  return {
    subscribers: 100,
    messages: MESSAGES_C,
    publishers: PUBLISHERS,
    relay_delivered_per_s: Math.round(relayRate),
    relay_overflows: relayOverflows,
    relay_cpu_share: relayBusy,
    relay_cpu_s: relayCpu,
    bench_cpu_share: benchBusy,
    relay_events_per_read: relayPerRead,
    relay_cpu_us_per_delivery: +(relayCpu / relayDelivered * 1e6).toFixed(3),
    relay_bytes_per_delivery: Math.round(relayBytes),
    redis_delivered_per_s: Math.round(redisRate),
    redis_cpu_share: redisShare,
    bench_cpu_share_redis: redisBusy,
    redis_events_per_read: redisPerRead,
    redis_cpu_us_per_delivery: +(redisCpu / redisDelivered * 1e6).toFixed(3),
    redis_bytes_per_delivery: Math.round(redisBytes),
    ratio_vs_redis: +(relayRate / redisRate).toFixed(2),
  };
}

const phases = new Set(values.only.split(","));
const load = await SubscriberLoad.start();
const a = phases.has("a") ? await fanout() : undefined;
const bare = phases.has("a") ? await fanoutBare(a?.events ?? 50) : undefined;
const b = phases.has("b") ? await steadyRate() : undefined;
const c = phases.has("c") ? await throughput() : undefined;
await load.stop();
console.log(JSON.stringify(
  {
    bench: "relay",
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
    a_fanout: a,
    a_bare_deno_fanout: bare,
    a_p99_vs_bare_deno: a && bare
      ? +(a.latency.p99_ms / bare.latency.p99_ms).toFixed(2)
      : undefined,
    b_steady_rate: b,
    c_throughput_vs_redis: c,
    targets: {
      a_rss_under_300mb: a && a.relay_rss_mb.after_publishing < 300,
      a_p99_under_1s: a && a.latency.p99_ms < 1000,
      b_p99_under_50ms: b && b.latency.p99_ms < 50,
      c_at_least_redis: c && c.ratio_vs_redis >= 1,
    },
  },
  null,
  2,
));
