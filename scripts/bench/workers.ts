/**
 * `--workers` benchmark (prints JSON). Sidecar: a 1.1 KB JSON POST through `iatp sidecar
 * --workers N` against nginx `proxy_pass` with N `worker_processes`, and the same two with one
 * worker, in the same run, in rounds that each run every target once (order rotating); the
 * upstream is one nginx (`return 200`, N workers) for all of them. Ratios are medians of the
 * per-round ratios: sidecar N / nginx N (target >= 0.8), and each side's N / 1 scaling. Relay:
 * messages delivered per second to `--relay-subs` SSE subscribers while 16 publishers publish,
 * `iatp relay --workers N` against `--workers 1`, alternating, a fresh relay per run. Every
 * service runs through the launcher with its real permissions; load comes from wrk (`-t N`) and,
 * for the relay, from the compiled client of the relay benchmark (relay_load.go: the subscribers
 * and the publishers, the same for both runs), all on the same host, so on a small machine the
 * load generator takes cores from what it measures (reported as `cores`). For each sidecar and
 * relay run it also reports the requests each isolate served (from `/metrics`) and, per part of
 * the process, CPU and the time runnable but waiting for a core (`/proc/<pid>/task/<tid>/schedstat`):
 * whether an isolate ever idled, and what the crossings between isolates waited for. For the relay
 * it also reports how many events a subscriber's socket read brought (a write of the relay carried
 * about as many) and how long the publishes took.
 *
 * Usage: deno run -A scripts/bench/workers.ts [--workers 2] [--duration 5] [--rounds 3]
 *   [--connections 64] [--relay-subs 200] [--messages 5000] [--only sidecar,relay]
 * Needs nginx and wrk for the sidecar part.
 * @module
 */
import { parseArgs } from "node:util";
import { startIatpService } from "../../tests/helpers.ts";
import { overflows, SubscriberLoad } from "./relay_clients.ts";
import {
  cpuSeconds,
  freePort,
  has,
  hostIdleSeconds,
  median,
  proxyServer,
  r3,
  requestBody,
  startNginx,
  stopAll,
  threadCpuSeconds,
  threadWaitSeconds,
  upstreamServer,
  waitPort,
  wrk,
  type WrkResult,
  wrkScript,
} from "./tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    workers: { type: "string", default: String(navigator.hardwareConcurrency) },
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "64" },
    "relay-subs": { type: "string", default: "200" },
    messages: { type: "string", default: "5000" },
    only: { type: "string", default: "sidecar,relay" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: deno run -A scripts/bench/workers.ts [--workers N] [--duration S] [--rounds N]
  [--connections N] [--relay-subs N] [--messages N] [--only sidecar,relay]
  --workers N       workers of the sidecar, nginx and the relay (default the cores)
  --duration S      seconds of each wrk run (default 5)
  --rounds N        rounds (default 3)
  --connections N   wrk connections (default 64)
  --relay-subs N    relay subscribers (default 200)
  --messages N      relay publishes per run (default 5000)
  --only LIST       parts to run, comma separated: sidecar, relay (default sidecar,relay)
Needs nginx and wrk for the sidecar part. Prints one JSON document.`);
  Deno.exit(0);
}
const N = Number(values.workers);
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const RELAY_SUBS = Number(values["relay-subs"]);
const MESSAGES = Number(values.messages);
const PUBLISHERS = 16;
/** A relay run that delivered nothing for this long is over (its cut-off subscribers). */
const STALL_MS = 2_000;
const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** The upstream, nginx proxies with N and 1 workers, sidecars with N and 1 workers. */
async function startSidecarTargets(dir: string) {
  const [up, pxN, px1, scN, sc1] = [freePort(), freePort(), freePort(), freePort(), freePort()];
  const children: Deno.ChildProcess[] = [];
  children.push(
    await startNginx(
      dir,
      "upstream",
      upstreamServer(up),
      up,
      N,
    ),
  );
  const proxy = (port: number) => proxyServer(port, up);
  children.push(await startNginx(dir, "proxy-n", proxy(pxN), pxN, N));
  children.push(await startNginx(dir, "proxy-1", proxy(px1), px1, 1));
  const pids: Record<string, number> = {};
  for (const [port, workers] of [[scN, N], [sc1, 1]]) {
    const child = new Deno.Command(`${ROOT}scripts/iatp`, {
      args: [
        "sidecar",
        "--port",
        String(port),
        "--workers",
        String(workers),
        "--log-level",
        "warn",
      ],
      env: { IATP_AGENT_URL: `http://127.0.0.1:${up}`, IATP_DATA_DIR: dir },
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    children.push(child);
    pids[`sidecar_${workers}`] = child.pid;
    await waitPort(port);
  }
  const targets: Record<string, string> = {
    [`sidecar_${N}`]: `http://127.0.0.1:${scN}/proxy`,
    [`nginx_${N}`]: `http://127.0.0.1:${pxN}/`,
    sidecar_1: `http://127.0.0.1:${sc1}/proxy`,
    nginx_1: `http://127.0.0.1:${px1}/`,
  };
  return { targets, children, pids };
}

/** A service's threads by part: its main isolate, its worker isolates (`*-worker-N`), the rest. */
const isolatePart = (thread: string, isMain: boolean) =>
  isMain ? "main_isolate" : /worker-\d+$/.test(thread) ? "worker_isolates" : "other";

/** Requests each isolate of a `--workers` service served so far (`/metrics`; [] for one). */
async function requestsByIsolate(origin: string): Promise<number[]> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith("iatp_worker_http_requests_total{"))
    .map((l) => Number(l.slice(l.lastIndexOf(" ") + 1)));
}

/** Where one sidecar's threads went during one wrk run. */
interface SidecarIsolates {
  /** Requests each isolate served (main isolate first; empty with one isolate). */
  requests_by_isolate: number[];
  /** CPU seconds per wall second of each part. */
  cpu: Record<string, number>;
  /** Seconds per wall second each part was runnable but waited for a core. */
  waiting: Record<string, number>;
  /** The sidecar's CPU (every thread) per request served. */
  cpu_us_per_request: number;
}

/** Runs `run` against the sidecar `pid` at `origin` and reports where its threads went. */
async function watchSidecar(
  pid: number,
  origin: string,
  run: () => Promise<WrkResult>,
): Promise<{ result: WrkResult; isolates: SidecarIsolates }> {
  const [req0, cpu0, wait0, t0] = [
    await requestsByIsolate(origin),
    threadCpuSeconds(pid, isolatePart),
    threadWaitSeconds(pid, isolatePart),
    performance.now(),
  ];
  const result = await run();
  const wall = (performance.now() - t0) / 1000;
  const [req1, cpu1, wait1] = [
    await requestsByIsolate(origin),
    threadCpuSeconds(pid, isolatePart),
    threadWaitSeconds(pid, isolatePart),
  ];
  const perWall = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(Object.keys(b).map((k) => [k, r3((b[k] - (a[k] ?? 0)) / wall)]));
  const cpu = perWall(cpu0, cpu1);
  const used = Object.values(cpu).reduce((x, y) => x + y, 0) * wall;
  return {
    result,
    isolates: {
      requests_by_isolate: req1.map((n, i) => n - (req0[i] ?? 0)),
      cpu,
      waiting: perWall(wait0, wait1),
      cpu_us_per_request: r3((used * 1e6) / (result.rps * wall)),
    },
  };
}

async function sidecarBench(dir: string) {
  const { targets, children, pids } = await startSidecarTargets(dir);
  try {
    const script = await wrkScript(dir, "body", requestBody());
    const names = Object.keys(targets);
    // Warm-up: the JIT of every isolate and the connection pools.
    for (const n of names) await wrk(targets[n], script, CONNECTIONS, 2, N);
    const rounds: Record<string, WrkResult>[] = [];
    const isolates: Record<string, SidecarIsolates[]> = { [`sidecar_${N}`]: [], sidecar_1: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const results: Record<string, WrkResult> = {};
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + round) % names.length];
        const run = () => wrk(targets[name], script, CONNECTIONS, DURATION, N);
        if (pids[name] === undefined) {
          results[name] = await run();
          continue;
        }
        const watched = await watchSidecar(pids[name], new URL(targets[name]).origin, run);
        results[name] = watched.result;
        isolates[name].push(watched.isolates);
      }
      rounds.push(results);
    }
    const ratio = (a: string, b: string) => r3(median(rounds.map((r) => r[a].rps / r[b].rps)));
    return {
      workers: N,
      wrk_threads: N,
      connections: CONNECTIONS,
      rps_by_round: Object.fromEntries(names.map((n) => [n, rounds.map((r) => r[n].rps)])),
      errors: Object.fromEntries(
        names.map((n) => [n, rounds.reduce((s, r) => s + r[n].errors, 0)]),
      ),
      sidecar_n_vs_nginx_n_rps: ratio(`sidecar_${N}`, `nginx_${N}`),
      sidecar_1_vs_nginx_1_rps: ratio("sidecar_1", "nginx_1"),
      sidecar_scaling_n_vs_1: ratio(`sidecar_${N}`, "sidecar_1"),
      nginx_scaling_n_vs_1: ratio(`nginx_${N}`, "nginx_1"),
      // Per round, each sidecar's isolates: the requests each served (how evenly the kernel
      // spread the connections), CPU and run-queue wait per part (seconds per wall second: an
      // isolate whose cpu + waiting is near 1 always had work), CPU per request.
      isolates_by_round: isolates,
    };
  } finally {
    await stopAll(children.reverse());
  }
}

/** One relay run: deliveries per second and where the host's CPU went meanwhile. */
interface RelayRun {
  deliveries_per_s: number;
  /** Events per socket read of the subscribers (how many events a write of the relay carried). */
  events_per_read: number;
  /** Seconds until every publish was answered (the rest of the run is delivery catching up). */
  publish_s: number;
  /**
   * Subscribers the relay cut off for a full queue: their deliveries never arrive, so the run
   * waits out its bound and its rate means little.
   */
  overflows: number;
  /** Requests each isolate served (main isolate first; empty with one): subscribes, publishes. */
  requests_by_isolate: number[];
  /** Seconds per wall second the relay's parts were runnable but waited for a core. */
  waiting: Record<string, number>;
  /** CPU seconds over wall seconds of each part (2 = two cores busy). */
  cpu: {
    /** The relay's main isolate (the sequencer) and its worker isolates' threads. */
    main_isolate: number;
    worker_isolates: number;
    /** The relay's other threads: V8's helpers (collection, compilation), I/O. */
    relay_other: number;
    /** The compiled subscribers and publishers. */
    client: number;
    /** What no process used: CPU the relay could still have taken. */
    host_idle: number;
    /** Everything else on the host (other processes). */
    rest: number;
  };
}

/** The relay's threads by part: the main isolate, worker isolates (`worker-N`), the rest. */
const relayPart = (thread: string, isMain: boolean) =>
  isMain ? "main_isolate" : thread.startsWith("worker-") ? "worker_isolates" : "relay_other";

/** Messages delivered per second to the subscribers of a relay with `workers` isolates. */
async function relayRun(workers: number, dir: string): Promise<RelayRun> {
  const relay = await startIatpService(
    ["relay", "--port", "0", "--workers", String(workers), "--heartbeat", "30s"],
    { env: { IATP_DATA_DIR: dir } },
  );
  try {
    const until = Date.now() + 30_000;
    while (workers > 1 && !relay.stdout().includes("relay workers serving")) {
      if (Date.now() > until) throw new Error("relay workers did not start");
      await new Promise((r) => setTimeout(r, 20));
    }
    const port = Number(new URL(relay.url).port);
    await load.sse(port, "topic=thr", RELAY_SUBS);
    const pid = relay.process.pid;
    const relay0 = threadCpuSeconds(pid, relayPart);
    const wait0 = threadWaitSeconds(pid, relayPart);
    const req0 = await requestsByIsolate(new URL(relay.url).origin);
    const [client0, idle0, t0] = [cpuSeconds(load.pid), hostIdleSeconds(), performance.now()];
    await load.publishHttp(port, "thr", MESSAGES, PUBLISHERS, "x".repeat(100));
    const published = performance.now();
    const want = MESSAGES * RELAY_SUBS;
    const end = Date.now() + 120_000;
    let got = await load.count();
    // Subscribers cut off for a full queue never get the rest: stop once nothing arrives.
    let last = got, lastAt = performance.now(), stalled = false;
    while (got < want && Date.now() < end && !stalled) {
      await new Promise((r) => setTimeout(r, 5));
      got = await load.count();
      if (got !== last) [last, lastAt] = [got, performance.now()];
      stalled = performance.now() - lastAt > STALL_MS;
    }
    const wall = ((stalled ? lastAt : performance.now()) - t0) / 1000;
    const relay1 = threadCpuSeconds(pid, relayPart);
    const wait1 = threadWaitSeconds(pid, relayPart);
    const req1 = await requestsByIsolate(new URL(relay.url).origin);
    const share = (x: number) => r3(x / wall);
    const part = (k: string) => share((relay1[k] ?? 0) - (relay0[k] ?? 0));
    const cpu = {
      main_isolate: part("main_isolate"),
      worker_isolates: part("worker_isolates"),
      relay_other: part("relay_other"),
      client: share(cpuSeconds(load.pid) - client0),
      host_idle: share(hostIdleSeconds() - idle0),
      rest: 0,
    };
    const used = cpu.main_isolate + cpu.worker_isolates + cpu.relay_other + cpu.client;
    cpu.rest = r3(Math.max(0, navigator.hardwareConcurrency - used - cpu.host_idle));
    const cut = await overflows(relay.url);
    const stats = await load.close();
    const waiting = Object.fromEntries(
      Object.keys(wait1).map((k) => [k, share(wait1[k] - (wait0[k] ?? 0))]),
    );
    const requests_by_isolate = req1.map((n, i) => n - (req0[i] ?? 0));
    return {
      deliveries_per_s: Math.round(got / wall),
      events_per_read: r3(stats.count / Math.max(1, stats.reads)),
      publish_s: r3((published - t0) / 1000),
      overflows: cut,
      requests_by_isolate,
      waiting,
      cpu,
    };
  } finally {
    await relay.stop();
  }
}

/** The subscribers and publishers of the relay runs: one compiled client (relay_load.go). */
let load: SubscriberLoad;

async function relayBench(dir: string) {
  load = await SubscriberLoad.start();
  await load.stamps(false); // nothing here reads the delays
  try {
    return await relayRounds(dir);
  } finally {
    await load.stop();
  }
}

async function relayRounds(dir: string) {
  const runs: Record<string, RelayRun[]> = { [N]: [], 1: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const w of round % 2 === 0 ? [N, 1] : [1, N]) runs[w].push(await relayRun(w, dir));
  }
  const rates = (w: number) => runs[w].map((r) => r.deliveries_per_s);
  // The median share of each part over the rounds, per worker count.
  const cpu = (w: number) => {
    const keys = Object.keys(runs[w][0].cpu) as Array<keyof RelayRun["cpu"]>;
    return Object.fromEntries(keys.map((k) => [k, r3(median(runs[w].map((r) => r.cpu[k])))]));
  };
  return {
    workers: N,
    subscribers: RELAY_SUBS,
    messages: MESSAGES,
    publishers: PUBLISHERS,
    deliveries_per_s_by_round: { [N]: rates(N), 1: rates(1) },
    overflows_by_round: {
      [N]: runs[N].map((r) => r.overflows),
      1: runs[1].map((r) => r.overflows),
    },
    relay_scaling_n_vs_1: r3(median(rates(N).map((x, i) => x / rates(1)[i]))),
    // Events per subscriber socket read (fewer: more writes per event) and the seconds until
    // every publish was answered, per round.
    events_per_read_by_round: {
      [N]: runs[N].map((r) => r.events_per_read),
      1: runs[1].map((r) => r.events_per_read),
    },
    publish_s_by_round: {
      [N]: runs[N].map((r) => r.publish_s),
      1: runs[1].map((r) => r.publish_s),
    },
    // Where the cores went (CPU seconds per wall second, medians over the rounds): the relay
    // can gain from more isolates only while host_idle (or a part it can take from) is left.
    cpu_by_workers: { [N]: cpu(N), 1: cpu(1) },
    cpu_by_round: { [N]: runs[N].map((r) => r.cpu), 1: runs[1].map((r) => r.cpu) },
    // Seconds per wall second each part was runnable but waited for a core: a publish another
    // isolate takes crosses to the main isolate and back, each crossing waiting for the other
    // thread to run.
    waiting_by_round: { [N]: runs[N].map((r) => r.waiting), 1: runs[1].map((r) => r.waiting) },
    // Publishes and subscribes each isolate took (main isolate first; the 16 publishers' share
    // shows how many of them paid the crossing).
    requests_by_isolate_by_round: { [N]: runs[N].map((r) => r.requests_by_isolate) },
  };
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "iatp-bench-workers-" });
  const only = new Set(values.only.split(","));
  try {
    const tools = (await has("nginx")) && (await has("wrk"));
    const sidecar = !only.has("sidecar")
      ? { skipped: "--only" }
      : tools
      ? await sidecarBench(dir)
      : { skipped: "nginx or wrk not installed" };
    const relay = only.has("relay") ? await relayBench(dir) : { skipped: "--only" };
    console.log(JSON.stringify(
      {
        benchmark: "workers",
        cores: navigator.hardwareConcurrency,
        duration_s: DURATION,
        rounds: ROUNDS,
        sidecar,
        relay,
        targets: { sidecar_n_vs_nginx_n_rps: 0.8 },
      },
      null,
      2,
    ));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
