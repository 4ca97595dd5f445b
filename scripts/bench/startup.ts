/**
 * Startup benchmark: time from exec to the first 200 on /health for `iatp sidecar` and
 * `iatp relay` (or the services `--services` names: any of sidecar, relay, policy, audit,
 * dashboard, status, compose-agent, sensor, action, each started with its defaults and what it
 * cannot start without: the sidecar and the relay as one isolate, the compose agent with a signing
 * key, the sensor and action agents with an agent id and a relay this benchmark starts), and idle
 * RSS (once it has settled: two readings 0.5 s apart within 0.25 MB, at most 5 s after the first
 * answer), against nginx (first 200) and
 * redis-server (first PONG) from apt in the same run, and against the floor of the runtime
 * itself: a bare `Deno.serve` answering /health (`deno_hello`), started the same way. Prints JSON.
 * Run: `deno run -A scripts/bench/startup.ts [--runs N] [--services sidecar,relay]` (`--help`
 * prints the usage; a bad argument exits 2 naming it).
 */
import { sleep } from "../../core/async/mod.ts";
import { parseArgs } from "node:util";
import { freePort } from "./tools.ts";
import {
  entryOf,
  expandFlags,
  lineEnv,
  lineFlags,
  parsePermissionTable,
  SERVICE_ENTRIES,
} from "../../cmd/permissions.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const USAGE = `Usage: deno run -A scripts/bench/startup.ts [--runs N] [--services NAME,...]
  --runs N           starts measured per service and per way of starting it (default 7; one more
                     start before them warms the caches)
  --services LIST    comma list of services (default sidecar,relay), of:
                     ${[...SERVICE_ENTRIES.keys()].join(", ")}
Run under flock -o /tmp/iatp-bench.lock. Prints one JSON document: time to the first /health 200
and idle RSS of each service (deno run, and through scripts/iatp), Deno's floor, nginx and redis.`;

/** Prints `message` and the usage to stderr and exits 2 (a bad argument). */
function usageError(message: string): never {
  console.error(`startup: ${message}\n${USAGE}`);
  Deno.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "7" },
      services: { type: "string", default: "sidecar,relay" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
} catch (err) {
  usageError((err as Error).message);
}
const { values } = parsed;
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const RUNS = Number(values.runs);
if (!/^\d+$/.test(values.runs) || RUNS < 1) {
  usageError(`--runs ${values.runs}: not a whole number of at least 1`);
}
const SERVICES = values.services.split(",").map((s) => s.trim()).filter((s) => s !== "");
for (const s of SERVICES) {
  if (!SERVICE_ENTRIES.has(s)) usageError(`--services: no service ${JSON.stringify(s)}`);
}
if (SERVICES.length === 0) usageError("--services: no service named");

/** VmRSS, and its anonymous and file-backed parts (the runtime's code pages are file-backed). */
function rssOf(pid: number): { total: number; anon: number; file: number } {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = (name: string) => {
      const m = new RegExp(`${name}:\\s+(\\d+) kB`).exec(status);
      return m ? Number(m[1]) * 1024 : 0;
    };
    return { total: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") };
  } catch {
    return { total: 0, anon: 0, file: 0 };
  }
}

async function until(
  probe: () => Promise<boolean>,
  timeoutMs = 20_000,
  alive: () => void = () => {},
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    alive();
    if (await probe().catch(() => false)) return;
    await sleep(2);
  }
  throw new Error("not ready in time");
}

const httpOk = (url: string) => async () => {
  const r = await fetch(url);
  await r.body?.cancel();
  return r.status === 200;
};

async function redisPong(port: number): Promise<boolean> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await c.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(16);
    const n = await c.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
  } finally {
    c.close();
  }
}

/** Idle: the first reading at least 0.5 s after the first answer that is within 0.25 MB of the
 * reading 0.5 s before it (a service still compiling, such as the policy's WebAssembly on V8's
 * optimizing tier, is not idle yet), or the reading 5 s after the first answer. */
const SETTLE_STEP_MS = 500;
const SETTLE_MAX_MS = 5_000;
const SETTLE_BYTES = 256 * 1024;

async function settledRss(pid: number): Promise<{ total: number; anon: number; file: number }> {
  await sleep(SETTLE_STEP_MS);
  let last = rssOf(pid);
  for (let waited = SETTLE_STEP_MS; waited < SETTLE_MAX_MS; waited += SETTLE_STEP_MS) {
    await sleep(SETTLE_STEP_MS);
    const now = rssOf(pid);
    const settled = Math.abs(now.total - last.total) <= SETTLE_BYTES;
    last = now;
    if (settled) break;
  }
  return last;
}

interface Sample {
  ready_ms: number;
  idle_rss_bytes: number;
  idle_anon_bytes: number;
  idle_file_bytes: number;
}

/** How many of a child's last stderr bytes a failed sample reports. */
const STDERR_TAIL_BYTES = 2048;

/** Keeps the last `STDERR_TAIL_BYTES` of a stream (drained, so the child never blocks on it). */
async function tailOf(stream: ReadableStream<Uint8Array>): Promise<string> {
  let tail = new Uint8Array(0);
  for await (const chunk of stream) {
    const joined = new Uint8Array(tail.length + chunk.length);
    joined.set(tail);
    joined.set(chunk, tail.length);
    tail = joined.subarray(Math.max(0, joined.length - STDERR_TAIL_BYTES));
  }
  return new TextDecoder().decode(tail);
}

async function measure(
  cmd: string,
  args: (port: number, dir: string) => string[],
  ready: (port: number) => () => Promise<boolean>,
  env: Record<string, string> = {},
): Promise<Sample> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "iatp-bench-startup-" });
  const argv = args(port, dir);
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args: argv,
    env: { IATP_DATA_DIR: dir, ...env },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = tailOf(child.stderr);
  let exited: Deno.CommandStatus | undefined;
  const status = child.status.then((s) => (exited = s));
  // A child that exits is never measured: another process may answer on its port (a port taken
  // between `freePort` and its bind), and a dead process has no RSS.
  const alive = () => {
    if (exited) throw new Error(`exited with code ${exited.code} before it was measured`);
  };
  try {
    await until(ready(port), 20_000, alive);
    const ready_ms = performance.now() - t0;
    const rss = await settledRss(child.pid);
    alive();
    return {
      ready_ms,
      idle_rss_bytes: rss.total,
      idle_anon_bytes: rss.anon,
      idle_file_bytes: rss.file,
    };
  } catch (e) {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
    }
    await status;
    const tail = (await stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${cmd} ${argv.join(" ")}: ${(e as Error).message}\n${tail}`);
  } finally {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
    }
    await status;
    await stderr.catch(() => "");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function summarize(samples: Sample[]) {
  const r = samples.map((s) => s.ready_ms).sort((a, b) => a - b);
  const mb = (pick: (s: Sample) => number) => {
    const v = samples.map(pick).sort((a, b) => a - b);
    return Math.round(v[Math.floor(v.length / 2)] / 1048576 * 10) / 10;
  };
  return {
    ready_ms_p50: Math.round(r[Math.floor(r.length / 2)] * 10) / 10,
    ready_ms_min: Math.round(r[0] * 10) / 10,
    idle_rss_mb: mb((s) => s.idle_rss_bytes),
    // The medians of the parts: RssAnon (heaps, allocator) and RssFile (the runtime's code pages,
    // which the kernel maps a folio at a time, so their size follows the host's kernel).
    idle_anon_mb: mb((s) => s.idle_anon_bytes),
    idle_file_mb: mb((s) => s.idle_file_bytes),
  };
}

/** Tries of one sample before the benchmark fails (a port taken by another process costs one). */
const SAMPLE_TRIES = 3;

async function sample(f: () => Promise<Sample>): Promise<Sample> {
  for (let tried = 1;; tried++) {
    try {
      return await f();
    } catch (e) {
      if (tried >= SAMPLE_TRIES) throw e;
      console.error(`startup: sample ${tried} of ${SAMPLE_TRIES} failed, again: ${e}`);
    }
  }
}

async function repeat(f: () => Promise<Sample>): Promise<Sample[]> {
  await sample(f); // warm the OS page cache and Deno's code cache
  const out: Sample[] = [];
  for (let i = 0; i < RUNS; i++) out.push(await sample(f));
  return out;
}

function which(bin: string): string | undefined {
  for (const d of ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/sbin", "/bin"]) {
    try {
      Deno.statSync(`${d}/${bin}`);
      return `${d}/${bin}`;
    } catch { /* next */ }
  }
  return undefined;
}

const deno = Deno.env.get("DENO_BIN") || Deno.execPath();
// The benchmarked tree's own table (this file may run from another checkout's scripts).
const table = parsePermissionTable(Deno.readTextFileSync(`${ROOT}cmd/permissions.txt`));
/** The environment words of a service's line, which the launchers set for its process. */
const envFor = (name: string) => lineEnv(table.get(name) ?? []);
const flagsFor = (name: string, dir: string) =>
  expandFlags(lineFlags(table.get(name) ?? []), {
    root: ROOT.replace(/\/$/, ""),
    data: dir,
    deno,
  });

/** The agents' relay (sensor and action need somewhere to publish or take work from). */
let agentsRelay: { url: string; stop(): Promise<void> } | undefined;
if (SERVICES.includes("sensor") || SERVICES.includes("action")) {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "iatp-bench-relay-" });
  const child = new Deno.Command(`${ROOT}scripts/iatp`, {
    args: ["relay", "--port", String(port), "--workers", "1"],
    env: { IATP_DATA_DIR: dir },
    stdout: "null",
    stderr: "null",
  }).spawn();
  agentsRelay = {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  await until(httpOk(`${agentsRelay.url}/health`));
}

/**
 * A service's arguments after its name: its port, and what it cannot start without. The sidecar
 * and the relay are measured as one isolate (`--workers 1`): each worker isolate adds its own heap.
 */
function serviceArgs(svc: string, port: number): string[] {
  if (svc === "sidecar" || svc === "relay") return ["--port", String(port), "--workers", "1"];
  if (svc === "sensor" || svc === "action") {
    return [
      "--health-port",
      String(port),
      "--agent-id",
      `bench-${svc}`,
      "--relay-url",
      agentsRelay!.url,
    ];
  }
  return ["--port", String(port)];
}

/** The compose agent's signing key (it refuses to start without one). */
const serviceEnv = (svc: string): Record<string, string> =>
  svc === "compose-agent"
    ? { IATP_COMPOSE_AGENT_AGENT_TOKEN: crypto.randomUUID() + crypto.randomUUID() }
    : {};

const results: Record<string, unknown> = { runs: RUNS, deno: Deno.version.deno };
for (const svc of SERVICES) {
  const direct = await repeat(() =>
    measure(deno, (port, dir) => [
      "run",
      "--quiet",
      "--no-prompt",
      "--cached-only",
      ...flagsFor(svc, dir),
      // The file the launchers start for it (its own, for a service) and its arguments.
      `${ROOT}${entryOf([svc]).file}`,
      ...entryOf([svc, ...serviceArgs(svc, port)]).args,
    ], (p) =>
      httpOk(`http://127.0.0.1:${p}/health`), { ...envFor(svc), ...serviceEnv(svc) })
  );
  const launcher = await repeat(() =>
    measure(
      `${ROOT}scripts/iatp`,
      (port) => [svc, ...serviceArgs(svc, port)],
      (p) => httpOk(`http://127.0.0.1:${p}/health`),
      { DENO_BIN: deno, ...serviceEnv(svc) },
    )
  );
  results[svc] = { deno_run: summarize(direct), via_launcher: summarize(launcher) };
}

await agentsRelay?.stop();

// The runtime's own floor: Deno serving /health with nothing else loaded.
{
  const hello = await Deno.makeTempFile({ prefix: "iatp-bench-hello-", suffix: ".ts" });
  await Deno.writeTextFile(
    hello,
    `Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen() {} }, () =>
  new Response('{"status":"ok"}'));\n`,
  );
  try {
    results.deno_hello = summarize(
      await repeat(() =>
        measure(
          deno,
          (port) => ["run", "--quiet", "--allow-net", hello, String(port)],
          (p) => httpOk(`http://127.0.0.1:${p}/health`),
          // As the services start (cmd/permissions.txt): Deno's update check maps 1.3-1.7 MB.
          { DENO_NO_UPDATE_CHECK: "1" },
        )
      ),
    );
  } finally {
    await Deno.remove(hello);
  }
}

const nginx = which("nginx");
if (nginx) {
  const s = await repeat(() =>
    measure(nginx, (port, dir) => {
      Deno.writeTextFileSync(
        `${dir}/nginx.conf`,
        `daemon off; master_process off; pid ${dir}/nginx.pid;
error_log ${dir}/error.log; events {}
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};
uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
server { listen 127.0.0.1:${port}; location /health { return 200 '{"status":"ok"}'; } } }`,
      );
      return ["-p", dir, "-c", `${dir}/nginx.conf`];
    }, (p) => httpOk(`http://127.0.0.1:${p}/health`))
  );
  results.nginx = summarize(s);
} else results.nginx = "not installed (apt-get install nginx)";

const redis = which("redis-server");
if (redis) {
  const s = await repeat(() =>
    measure(
      redis,
      (
        port,
        dir,
      ) => [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      (p) => () => redisPong(p),
    )
  );
  results.redis = summarize(s);
} else results.redis = "not installed (apt-get install redis-server)";

type S = { ready_ms_p50: number; idle_rss_mb: number };
const floor = results.deno_hello as S;
const ratio = (a: unknown, b: unknown, k: keyof S) =>
  typeof a === "object" && typeof b === "object"
    ? Math.round(((a as S)[k] / (b as S)[k]) * 10) / 10
    : null;
const sc = (results.sidecar as { deno_run: S } | undefined)?.deno_run;
const rl = (results.relay as { deno_run: S } | undefined)?.deno_run;
results.ratios = {
  sidecar_vs_nginx_ready: ratio(sc, results.nginx, "ready_ms_p50"),
  relay_vs_redis_ready: ratio(rl, results.redis, "ready_ms_p50"),
  sidecar_vs_nginx_rss: ratio(sc, results.nginx, "idle_rss_mb"),
  relay_vs_redis_rss: ratio(rl, results.redis, "idle_rss_mb"),
  ...Object.fromEntries(
    SERVICES.map((s) => [
      `${s}_vs_deno_hello_rss`,
      ratio((results[s] as { deno_run: S }).deno_run, floor, "idle_rss_mb"),
    ]),
  ),
};
results.targets = { ready_ms: 150, idle_rss_mb: 50 };
console.log(JSON.stringify(results, null, 2));
