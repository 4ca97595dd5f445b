/**
 * Relay benchmark, against Redis pub/sub in the same run. Prints JSON.
 *   (a) N (default 10,000) concurrent SSE subscribers on one relay: relay RSS, publish->deliver
 *       p50/p99;
 *   (b) 1,000 subscribers at 1,000 publishes/s: delivery p50/p99;
 *   (c) messages delivered per second to 100 subscribers, relay vs redis-server.
 * Each phase also reports `relay_cpu_share`, the relay's CPU seconds over the phase's wall
 * seconds: well below 1, the benchmark's own clients (on the same host) set the figures.
 * The relay runs as `iatp relay` with its table permissions in a child process; subscribers
 * are raw loopback sockets in this process. Usage:
 *   deno run -A scripts/bench/relay.ts [--subs 10000] [--rate-secs 3] [--messages 20000]
 * @module
 */
import { parseArgs } from "node:util";
import { sleep } from "../../core/async/mod.ts";
import { freePort, startIatpService } from "../../tests/helpers.ts";
import { RedisConn, SseSub } from "./relay_clients.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    subs: { type: "string", default: "10000" },
    "rate-secs": { type: "string", default: "3" },
    messages: { type: "string", default: "20000" },
  },
});
const SUBS_A = Number(values.subs);
const RATE_SECS = Number(values["rate-secs"]);
const MESSAGES_C = Number(values.messages);
const PUBLISHERS = 16;
const PAD = "x".repeat(100);
const OPEN_BATCH = 250;

const now = () => performance.timeOrigin + performance.now();

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Math.round(Number(m[1]) / 1024) : -1;
}

/** CPU seconds (user + system) `pid` used so far (/proc, clock ticks of 1/100 s). */
function cpuSecs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Measures how busy `pid` is while `phase` runs: its CPU seconds over the wall seconds. Near 1
 * the relay is the bottleneck; well below it, the benchmark's own clients (same host) are.
 */
async function busy<T>(pid: number, phase: () => Promise<T>): Promise<[T, number]> {
  const cpu0 = cpuSecs(pid);
  const t0 = performance.now();
  const out = await phase();
  const share = (cpuSecs(pid) - cpu0) / ((performance.now() - t0) / 1000);
  return [out, +share.toFixed(2)];
}

function percentiles(samples: number[]) {
  const s = Float64Array.from(samples).sort();
  const at = (q: number) => +s[Math.min(s.length - 1, Math.floor(s.length * q))].toFixed(2);
  return { samples: s.length, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1) };
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
  ], { env: { IATP_DATA_DIR: Deno.makeTempDirSync({ prefix: "iatp-bench-" }) } });
  return { relay, port };
}

async function openSubs(
  port: number,
  n: number,
  topic: string,
  onT?: (s: number, r: number) => void,
) {
  const subs: SseSub[] = [];
  for (let i = 0; i < n; i += OPEN_BATCH) {
    const batch = Array.from({ length: Math.min(OPEN_BATCH, n - i) }, () => new SseSub(onT));
    await Promise.all(batch.map((s) => s.open(port, `topic=${topic}`)));
    subs.push(...batch);
  }
  return subs;
}

async function publishRelay(url: string, topic: string, payload: Record<string, unknown>) {
  const res = await fetch(`${url}/publish`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic, payload }),
  });
  await res.body?.cancel();
  if (res.status !== 200) throw new Error(`publish answered ${res.status}`);
}

async function waitCount(count: () => number, target: number, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  while (count() < target && Date.now() < end) await sleep(5);
  return count();
}

/** (a) Many idle subscribers: memory, and latency of a paced trickle of publishes. */
async function fanout() {
  const { relay, port } = await startRelay();
  const latencies: number[] = [];
  try {
    const rssIdle = rssMb(relay.process.pid);
    const t0 = performance.now();
    const subs = await openSubs(port, SUBS_A, "fan", (s, r) => latencies.push(r - s));
    const connectSecs = (performance.now() - t0) / 1000;
    const rssConnected = rssMb(relay.process.pid);
    const events = 50;
    const [delivered, relayBusy] = await busy(relay.process.pid, async () => {
      for (let i = 0; i < events; i++) {
        await publishRelay(relay.url, "fan", { t: now(), pad: PAD });
        await sleep(100);
      }
      return await waitCount(() => latencies.length, events * SUBS_A, 60_000);
    });
    const rssAfter = rssMb(relay.process.pid);
    await Promise.all(subs.map((s) => s.close()));
    return {
      subscribers: SUBS_A,
      connect_secs: +connectSecs.toFixed(2),
      relay_rss_mb: { idle: rssIdle, connected: rssConnected, after_publishing: rssAfter },
      events,
      delivered,
      relay_cpu_share: relayBusy,
      latency: percentiles(latencies),
    };
  } finally {
    await relay.stop();
  }
}

/** (b) 1,000 subscribers at 1,000 publishes/s. */
async function steadyRate() {
  const { relay, port } = await startRelay();
  const latencies: number[] = [];
  try {
    const subs = await openSubs(port, 1000, "rate", (s, r) => latencies.push(r - s));
    const total = 1000 * RATE_SECS;
    let achieved = 0;
    const [delivered, relayBusy] = await busy(relay.process.pid, async () => {
      const start = performance.now();
      const inflight: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const due = start + i; // one publish per millisecond
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        inflight.push(publishRelay(relay.url, "rate", { t: now(), i }));
        if (inflight.length >= 64) await inflight.shift();
      }
      await Promise.all(inflight);
      achieved = total / ((performance.now() - start) / 1000);
      return await waitCount(() => latencies.length, total * 1000, 60_000);
    });
    await Promise.all(subs.map((s) => s.close()));
    return {
      subscribers: 1000,
      publishes: total,
      achieved_publish_rate: Math.round(achieved),
      delivered,
      relay_cpu_share: relayBusy,
      latency: percentiles(latencies),
    };
  } finally {
    await relay.stop();
  }
}

/** Runs `n` publishes through `PUBLISHERS` sequential workers. */
async function publishAll(n: number, one: (worker: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: PUBLISHERS }, async (_, w) => {
    while (next < n) {
      next++;
      await one(w);
    }
  }));
}

/** (c) Throughput to 100 subscribers: the relay vs Redis pub/sub. */
async function throughput() {
  const message = JSON.stringify({ pad: PAD });
  const { relay, port } = await startRelay();
  let relayRate: number;
  let relayBusy: number;
  try {
    const subs = await openSubs(port, 100, "thr");
    const t0 = performance.now();
    let got: number;
    [got, relayBusy] = await busy(relay.process.pid, async () => {
      await publishAll(MESSAGES_C, () => publishRelay(relay.url, "thr", { pad: PAD }));
      return await waitCount(
        () => subs.reduce((a, s) => a + s.counter.count, 0),
        MESSAGES_C * 100,
        120_000,
      );
    });
    relayRate = got / ((performance.now() - t0) / 1000);
    await Promise.all(subs.map((s) => s.close()));
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
    const subs = await Promise.all(Array.from({ length: 100 }, async () => {
      const c = new RedisConn();
      await c.connect(redisPort);
      await c.subscribe("thr");
      return c;
    }));
    const pubs = await Promise.all(Array.from({ length: PUBLISHERS }, async () => {
      const c = new RedisConn();
      await c.connect(redisPort);
      return c;
    }));
    const t0 = performance.now();
    await publishAll(MESSAGES_C, (w) => pubs[w].publish("thr", message));
    const got = await waitCount(
      () => subs.reduce((a, s) => a + s.counter.count, 0),
      MESSAGES_C * 100,
      120_000,
    );
    redisRate = got / ((performance.now() - t0) / 1000);
    await Promise.all([...subs, ...pubs].map((c) => c.close()));
  } finally {
    redis.kill("SIGTERM");
    await redis.status;
  }
  return {
    subscribers: 100,
    messages: MESSAGES_C,
    publishers: PUBLISHERS,
    relay_delivered_per_s: Math.round(relayRate),
    relay_cpu_share: relayBusy,
    redis_delivered_per_s: Math.round(redisRate),
    ratio_vs_redis: +(relayRate / redisRate).toFixed(2),
  };
}

const a = await fanout();
const b = await steadyRate();
const c = await throughput();
console.log(JSON.stringify(
  {
    bench: "relay",
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
    a_fanout: a,
    b_steady_rate: b,
    c_throughput_vs_redis: c,
    targets: {
      a_rss_under_400mb: a.relay_rss_mb.after_publishing < 400,
      b_p99_under_20ms: b.latency.p99_ms < 20,
      c_at_least_half_redis: c.ratio_vs_redis >= 0.5,
    },
  },
  null,
  2,
));
