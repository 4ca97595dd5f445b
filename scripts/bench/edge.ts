/**
 * HTTP edge benchmark (prints JSON), all in one run:
 * 1. Stalled clients: the sidecar and the relay (spawned by the launcher, default settings)
 *    each get `--clients` connections that send `POST ... Content-Length: 1048576` and `{`,
 *    then nothing. Reported: RSS before and at peak during the flood, seconds until the
 *    services closed them (body_timeout, default 30 s), and /health latency meanwhile.
 * 2. The sidecar with the edge's hardening on (defaults) versus off (header, body and idle
 *    timeouts 0, max_connections 0), a 1.1 KB JSON POST through /proxy to an nginx agent,
 *    wrk -t1 -c64, alternating rounds; median rps and server CPU per request.
 *    With `--baseline-ref REF` the sidecar of that git ref (e.g. the commit before the edge)
 *    runs in the same rounds, so the whole cost of the edge is measured too.
 * 3. On one trivial route, alternating rounds, as ratios: the HTTP/1.1 edge with a plain
 *    handler versus a bare Deno.serve, and createServer (edge, Hono, middlewares) versus
 *    Deno.serve running the same Hono app (scripts/bench/edge_server.ts).
 *
 * Usage: deno run -A scripts/bench/edge.ts [--clients 1000] [--duration 5] [--rounds 3]
 *        [--baseline-ref REF]
 * Needs wrk and nginx for parts 2 and 3 (`apt-get install -y nginx wrk`).
 * @module
 */
import { sleep } from "../../core/async/mod.ts";
import { parseArgs } from "node:util";
import { freePort, LAUNCHER, listeningUrl, ROOT } from "../../tests/helpers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "1000" },
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    "baseline-ref": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: deno run -A scripts/bench/edge.ts [--clients N] [--duration S] [--rounds N]
  [--baseline-ref REF]
  --clients N          stalled connections to the sidecar and to the relay (default 1000)
  --duration S         seconds of each wrk run (default 5)
  --rounds N           alternating rounds (default 3)
  --baseline-ref REF   the sidecar of this git ref in the same rounds
Needs wrk and nginx for parts 2 and 3. Prints one JSON document.`);
  Deno.exit(0);
}
const CLIENTS = Number(values.clients);
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const BASELINE_REF = values["baseline-ref"];
/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;
const HARDENING_OFF = ["--header-timeout", "0s", "--body-timeout", "0s", "--idle-timeout", "0s"]
  .concat(["--max-connections", "0"]);

interface Child {
  process: Deno.ChildProcess;
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts `cmd args` and waits for its `listening` log line (or, with `port`, the port). */
async function spawn(cmd: string, args: string[], env: Record<string, string>, port?: number) {
  const process = new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "inherit" })
    .spawn();
  let out = "";
  const pump = (async () => {
    const d = new TextDecoder();
    for await (const c of process.stdout) out += d.decode(c, { stream: true });
  })();
  const stop = async () => {
    try {
      process.kill("SIGTERM");
    } catch { /* gone */ }
    await process.status;
    await pump;
  };
  const until = Date.now() + 60_000;
  let url = port ? `http://127.0.0.1:${port}` : undefined;
  let up = false;
  while (!up && Date.now() < until) {
    up = port ? await reachable(port) : (url = listeningUrl(out)) !== undefined;
    if (!up) await sleep(100);
  }
  if (!up || !url) {
    await stop();
    throw new Error(`${cmd} ${args.join(" ")} did not start`);
  }
  return { process, url, port: Number(new URL(url).port), stop } satisfies Child;
}

async function reachable(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024 * 10) / 10;
}

/** CPU seconds (user + system, all threads) the process used so far. */
function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/** Opens `n` connections that each start a 1 MiB POST and stall after one byte. */
async function stall(port: number, path: string, n: number, closedAt: number[], t0: number) {
  const head = new TextEncoder().encode(
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
      "Content-Length: 1048576\r\n\r\n{",
  );
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < n; i++) {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    await c.write(head);
    conns.push(c);
    (async () => {
      const buf = new Uint8Array(4096);
      try {
        while (await c.read(buf) !== null) { /* the 408 */ }
      } catch { /* reset */ }
      closedAt.push((performance.now() - t0) / 1000);
    })();
  }
  return conns;
}

/** Part 1: stalled clients against the sidecar and the relay at once. */
async function stalledClients(dir: string) {
  const env = { IATP_DATA_DIR: dir, IATP_AGENT_URL: "http://127.0.0.1:9" };
  const start = (service: string) => spawn(LAUNCHER, [service, "--port", "0"], env);
  const targets = [
    { name: "sidecar", path: "/proxy", child: await start("sidecar") },
    { name: "relay", path: "/publish", child: await start("relay") },
  ];
  try {
    const before = targets.map((t) => rssMb(t.child.process.pid));
    const t0 = performance.now();
    const closed = targets.map(() => [] as number[]);
    const conns = await Promise.all(
      targets.map((t, i) => stall(t.child.port, t.path, CLIENTS, closed[i], t0)),
    );
    const peak = [...before];
    const health: number[] = [];
    const until = Date.now() + 120_000;
    while (closed.some((c) => c.length < CLIENTS) && Date.now() < until) {
      targets.forEach((t, i) => peak[i] = Math.max(peak[i], rssMb(t.child.process.pid)));
      for (const t of targets) {
        const s = performance.now();
        const r = await fetch(`${t.child.url}/health`);
        await r.body?.cancel();
        health.push(performance.now() - s);
      }
      await sleep(50);
    }
    for (const c of conns.flat()) {
      try {
        c.close();
      } catch { /* closed by the server */ }
    }
    const per = Object.fromEntries(targets.map((t, i) => [t.name, {
      rss_before_mb: before[i],
      rss_peak_during_mb: peak[i],
      rss_added_mb: r2(peak[i] - before[i]),
      closed_by_server: closed[i].length,
      seconds_until_all_closed: closed[i].length ? r2(Math.max(...closed[i])) : null,
    }]));
    return {
      clients_per_service: CLIENTS,
      ...per,
      health_during_flood_ms: {
        samples: health.length,
        p50: r2(percentile(health, 0.5)),
        p99: r2(percentile(health, 0.99)),
      },
      targets: { rss_added_mb_below: 100 },
    };
  } finally {
    await Promise.all(targets.map((t) => t.child.stop()));
  }
}

/** One wrk run: requests per second and the server's CPU microseconds per request. */
async function wrk(url: string, pid: number, script?: string) {
  const args = ["-t1", "-c64", `-d${DURATION}s`, ...(script ? ["-s", script] : []), url];
  const cpu0 = cpuSeconds(pid);
  const out = await new Deno.Command("wrk", { args, stdout: "piped", stderr: "piped" }).output();
  const cpu = cpuSeconds(pid) - cpu0;
  const text = new TextDecoder().decode(out.stdout);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  if (non2xx > 0) throw new Error(`${url}: ${non2xx} non-2xx answers`);
  return {
    rps: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN)),
    cpu_us_per_request: r2(cpu / requests * 1e6),
  };
}

/** Alternating rounds over named targets; medians per target. */
async function alternate(
  targets: Array<{ name: string; url: string; pid: number }>,
  script?: string,
) {
  for (const t of targets) await wrk(t.url, t.pid, script); // warm-up (JIT, pools)
  const runs: Record<string, Array<{ rps: number; cpu_us_per_request: number }>> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) (runs[t.name] ??= []).push(await wrk(t.url, t.pid, script));
  }
  return Object.fromEntries(
    Object.entries(runs).map(([name, rs]) => [name, {
      rps_median: median(rs.map((r) => r.rps)),
      cpu_us_per_request_median: median(rs.map((r) => r.cpu_us_per_request)),
      rounds: rs,
    }]),
  );
}

/** An nginx that answers every request 200 with a small JSON body: the sidecar's agent. */
async function startNginxAgent(dir: string): Promise<Child> {
  const up = freePort();
  await Deno.mkdir(`${dir}/nginx`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/nginx/nginx.conf`,
    `worker_processes 1; daemon off; pid ${dir}/nginx/pid; error_log ${dir}/nginx/error.log warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}/nginx/b; proxy_temp_path ${dir}/nginx/p;
  fastcgi_temp_path ${dir}/nginx/f; uwsgi_temp_path ${dir}/nginx/u; scgi_temp_path ${dir}/nginx/s;
  keepalive_requests 10000000;
  server { listen 127.0.0.1:${up}; location / { default_type application/json; return 200 '{"ok":true}'; } } }
`,
  );
  return await spawn("nginx", ["-p", `${dir}/nginx`, "-c", `${dir}/nginx/nginx.conf`], {}, up);
}

/** A wrk script posting a 1.1 KB JSON body; returns its path and the body size. */
async function postScript(dir: string): Promise<{ path: string; bytes: number }> {
  const path = `${dir}/post.lua`;
  const body = JSON.stringify({ task: "purchase", notes: "x".repeat(1050) });
  await Deno.writeTextFile(
    path,
    `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\n` +
      `wrk.headers["Content-Type"] = "application/json"\n`,
  );
  return { path, bytes: body.length };
}

/** Part 2: the sidecar with the hardening on (defaults) and off (and a baseline ref). */
async function sidecarOnOff(dir: string) {
  const nginx = await startNginxAgent(dir);
  const env = { IATP_DATA_DIR: dir, IATP_AGENT_URL: nginx.url };
  const sidecar = (extra: string[]) => {
    const port = freePort();
    const args = ["sidecar", "--port", String(port), "--log-level", "warn", ...extra];
    return spawn(LAUNCHER, args, env, port);
  };
  const started: Child[] = [];
  const add = async (c: Promise<Child>) => {
    try {
      started.push(await c);
    } catch (err) {
      await Promise.all([...started, nginx].map((s) => s.stop()));
      throw err;
    }
    return started[started.length - 1];
  };
  const on = await add(sidecar([]));
  const off = await add(sidecar(HARDENING_OFF));
  const baseline = BASELINE_REF
    ? await add(
      baselineTree(dir, BASELINE_REF).then((launcher) => {
        const port = freePort();
        return spawn(
          launcher,
          ["sidecar", "--port", String(port), "--log-level", "warn"],
          env,
          port,
        );
      }),
    )
    : undefined;
  const script = await postScript(dir);
  try {
    const r = await alternate([
      { name: "hardening_on", url: `${on.url}/proxy`, pid: on.process.pid },
      { name: "hardening_off", url: `${off.url}/proxy`, pid: off.process.pid },
      ...(baseline
        ? [{ name: "baseline", url: `${baseline.url}/proxy`, pid: baseline.process.pid }]
        : []),
    ], script.path);
    return {
      body_bytes: script.bytes,
      ...r,
      on_vs_off_rps: r2(r.hardening_on.rps_median / r.hardening_off.rps_median),
      ...(baseline
        ? {
          baseline_ref: BASELINE_REF,
          on_vs_baseline_rps: r2(r.hardening_on.rps_median / r.baseline.rps_median),
        }
        : {}),
      target_on_vs_off_rps_at_least: 0.95,
    };
  } finally {
    await Promise.all([...started, nginx].map((s) => s.stop()));
  }
}

/** The launcher of a checkout of `ref` (git archive into `dir`, dependencies installed). */
async function baselineTree(dir: string, ref: string): Promise<string> {
  const tree = `${dir}/baseline`;
  await Deno.mkdir(tree, { recursive: true });
  const sh = (cmd: string) =>
    new Deno.Command("sh", { args: ["-c", cmd], stdout: "null" }).output();
  const archive = await sh(`git -C '${ROOT}' archive '${ref}' | tar -x -C '${tree}'`);
  if (!archive.success) throw new Error(`git archive ${ref} failed`);
  await sh(`cd '${tree}' && '${Deno.execPath()}' install`);
  return `${tree}/scripts/iatp`;
}

/** Part 3: the edge versus Deno.serve on a trivial route, bare and with the Hono app. */
async function edgeVsDenoServe() {
  const script = `${ROOT}scripts/bench/edge_server.ts`;
  const kinds = ["h1", "bare", "edge", "hono"];
  const children: Child[] = [];
  try {
    for (const kind of kinds) {
      const port = freePort();
      children.push(
        await spawn(Deno.execPath(), ["run", "-A", script, kind, String(port)], {}, port),
      );
    }
    const r = await alternate(kinds.map((name, i) => ({
      name,
      url: `${children[i].url}/hello`,
      pid: children[i].process.pid,
    })));
    return {
      ...r,
      h1_vs_bare_deno_serve_rps: r2(r.h1.rps_median / r.bare.rps_median),
      create_server_vs_hono_on_deno_serve_rps: r2(r.edge.rps_median / r.hono.rps_median),
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

async function has(cmd: string): Promise<boolean> {
  try {
    return (await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "iatp-bench-edge-" });
  try {
    const tools = await has("wrk") && await has("nginx");
    const result = {
      benchmark: "edge",
      cores: navigator.hardwareConcurrency,
      stalled_clients: await stalledClients(dir),
      sidecar_hardening: tools ? await sidecarOnOff(dir) : { skipped: "wrk or nginx missing" },
      trivial_route: tools ? await edgeVsDenoServe() : { skipped: "wrk missing" },
      settings: { duration_s: DURATION, rounds: ROUNDS, wrk: "-t1 -c64" },
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
