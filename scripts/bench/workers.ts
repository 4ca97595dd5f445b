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
 * load generator takes cores from what it measures (reported as `cores`).
 *
 * Usage: deno run -A scripts/bench/workers.ts [--workers 2] [--duration 5] [--rounds 3]
 *   [--connections 64] [--relay-subs 200] [--messages 5000] [--only sidecar,relay]
 * Needs nginx and wrk for the sidecar part.
 * @module
 */
import { parseArgs } from "node:util";
import { startIatpService } from "../../tests/helpers.ts";
import { SubscriberLoad } from "./relay_clients.ts";
import {
  freePort,
  has,
  median,
  proxyServer,
  r3,
  requestBody,
  startNginx,
  stopAll,
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
  },
});
const N = Number(values.workers);
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const RELAY_SUBS = Number(values["relay-subs"]);
const MESSAGES = Number(values.messages);
const PUBLISHERS = 16;
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
  for (const [port, workers] of [[scN, N], [sc1, 1]]) {
    children.push(
      new Deno.Command(`${ROOT}scripts/iatp`, {
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
      }).spawn(),
    );
    await waitPort(port);
  }
  const targets: Record<string, string> = {
    [`sidecar_${N}`]: `http://127.0.0.1:${scN}/proxy`,
    [`nginx_${N}`]: `http://127.0.0.1:${pxN}/`,
    sidecar_1: `http://127.0.0.1:${sc1}/proxy`,
    nginx_1: `http://127.0.0.1:${px1}/`,
  };
  return { targets, children };
}

async function sidecarBench(dir: string) {
  const { targets, children } = await startSidecarTargets(dir);
  try {
    const script = await wrkScript(dir, "body", requestBody());
    const names = Object.keys(targets);
    // Warm-up: the JIT of every isolate and the connection pools.
    for (const n of names) await wrk(targets[n], script, CONNECTIONS, 2, N);
    const rounds: Record<string, WrkResult>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const results: Record<string, WrkResult> = {};
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + round) % names.length];
        results[name] = await wrk(targets[name], script, CONNECTIONS, DURATION, N);
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
    };
  } finally {
    await stopAll(children.reverse());
  }
}

/** Messages delivered per second to the subscribers of a relay with `workers` isolates. */
async function relayRun(workers: number, dir: string): Promise<number> {
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
    const t0 = performance.now();
    await load.publishHttp(port, "thr", MESSAGES, PUBLISHERS, "x".repeat(100));
    const want = MESSAGES * RELAY_SUBS;
    const end = Date.now() + 120_000;
    let got = await load.count();
    while (got < want && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 5));
      got = await load.count();
    }
    const rate = got / ((performance.now() - t0) / 1000);
    await load.close();
    return Math.round(rate);
  } finally {
    await relay.stop();
  }
}

/** The subscribers and publishers of the relay runs: one compiled client (relay_load.go). */
let load: SubscriberLoad;

async function relayBench(dir: string) {
  load = await SubscriberLoad.start();
  try {
    return await relayRounds(dir);
  } finally {
    await load.stop();
  }
}

async function relayRounds(dir: string) {
  const byWorkers: Record<string, number[]> = { [N]: [], 1: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const w of round % 2 === 0 ? [N, 1] : [1, N]) byWorkers[w].push(await relayRun(w, dir));
  }
  return {
    workers: N,
    subscribers: RELAY_SUBS,
    messages: MESSAGES,
    publishers: PUBLISHERS,
    deliveries_per_s_by_round: byWorkers,
    relay_scaling_n_vs_1: r3(
      median(byWorkers[N].map((x, i) => x / byWorkers[1][i])),
    ),
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
