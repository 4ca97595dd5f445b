/**
 * What the benchmarks share: free ports, waiting for a port, nginx with a given server block,
 * wrk runs and their figures, RSS readings, medians, and stopping a child.
 * @module
 */
import { sleep } from "../../core/async/mod.ts";

export { freePort } from "../../tests/helpers.ts";

/** Whether `cmd` is on PATH. */
export async function has(cmd: string): Promise<boolean> {
  try {
    return (await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

/**
 * Resolves once `port` on loopback accepts a connection.
 * @throws {Error} after `timeoutMs`
 */
export async function waitPort(port: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`port ${port} never opened`);
}

function nginxConf(prefix: string, server: string, workers: number): string {
  return `worker_processes ${workers};
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_requests 10000000;
  ${server}
}
`;
}

/** Starts nginx (in the foreground, `workers` workers) with one `server` block on `port`. */
export async function startNginx(
  dir: string,
  name: string,
  server: string,
  port: number,
  workers = 1,
): Promise<Deno.ChildProcess> {
  const prefix = `${dir}/${name}`;
  await Deno.mkdir(prefix, { recursive: true });
  await Deno.writeTextFile(`${prefix}/nginx.conf`, nginxConf(prefix, server, workers));
  const child = new Deno.Command("nginx", {
    args: ["-p", prefix, "-c", `${prefix}/nginx.conf`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitPort(port);
  return child;
}

/** One wrk run's figures. */
export interface WrkResult {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  return unit === "us" ? v / 1000 : unit === "s" ? v * 1000 : v;
}

/** Runs `wrk -t<threads>` (default 1) against `url` with a Lua `script` and reads its figures. */
export async function wrk(
  url: string,
  script: string,
  connections: number,
  durationS: number,
  threads = 1,
): Promise<WrkResult> {
  const out = await new Deno.Command("wrk", {
    args: [`-t${threads}`, `-c${connections}`, `-d${durationS}s`, "--latency", "-s", script, url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, "m").exec(text);
    return m ? Math.round(toMs(m[1], m[2]) * 1000) / 1000 : NaN;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const sockErr = /Socket errors: (.*)/.exec(text)?.[1] ?? "";
  const errs = sockErr.split(",").reduce((n, part) => n + Number(/\d+/.exec(part)?.[0] ?? 0), 0);
  return { rps: Math.round(rps), p50_ms: pct("50"), p99_ms: pct("99"), errors: non2xx + errs };
}

/** Writes a wrk Lua script that POSTs `body` as JSON. */
export async function wrkScript(dir: string, name: string, body: string): Promise<string> {
  const path = `${dir}/${name}.lua`;
  const lua = [
    'wrk.method = "POST"',
    `wrk.body = ${JSON.stringify(body)}`,
    'wrk.headers["Content-Type"] = "application/json"',
  ].join("\n");
  await Deno.writeTextFile(path, lua + "\n");
  return path;
}

/** Resident memory of `pid` in MB (one decimal); NaN once it is gone. */
export function rssMb(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024 * 10) / 10;
  } catch {
    return NaN;
  }
}

/** The median of `xs` (NaN for none). */
export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** `x` rounded to three decimals. */
export const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Sends SIGTERM to each child still running and waits for it. */
export async function stopAll(children: Deno.ChildProcess[]): Promise<void> {
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
  }
}

/** A realistic 1.1 KB agent request without PII. */
export function requestBody(): string {
  const body = {
    task: "purchase",
    agent: "shopping-assistant",
    user: { id: "u-48213", locale: "en-US", tier: "gold" },
    items: Array.from({ length: 6 }, (_, i) => ({
      sku: `SKU-${1000 + i}`,
      name: `Item number ${i} with a descriptive name`,
      qty: i + 1,
      price: 19.99 + i,
    })),
    shipping: { method: "express", address: "1 Main Street, Springfield", zip: "12345" },
    notes: "Leave at the door. Call on arrival if nobody answers the bell.",
    ts: 1_700_000_000_000,
    order_ref: "ORD-2024-000123",
  };
  let text = JSON.stringify(body);
  while (text.length < 1100) text = text.replace('"notes":"', '"notes":"x');
  return text;
}

/** An nginx `server` block answering `{"ok":true}` on `port`: the agent behind every proxy. */
export function upstreamServer(port: number): string {
  return `server { listen 127.0.0.1:${port}; location / { default_type application/json; return 200 '{"ok":true}'; } }`;
}

/** An nginx `proxy_pass` to `upstreamPort` on `port`, with a keep-alive upstream pool. */
export function proxyServer(port: number, upstreamPort: number): string {
  return `upstream agent { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server { listen 127.0.0.1:${port}; client_body_buffer_size 64k;
    location / { proxy_pass http://agent; proxy_http_version 1.1; proxy_set_header Connection ""; } }`;
}

/** Clock ticks per second of `/proc` CPU times (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

/**
 * CPU seconds (user + system) `pid` used so far, or its thread `tid`; NaN once it is gone.
 * @example
 * ```ts
 * const before = cpuSeconds(Deno.pid);
 * ```
 */
export function cpuSeconds(pid: number, tid?: number): number {
  try {
    const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
    const stat = Deno.readTextFileSync(path);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  } catch {
    return NaN;
  }
}

/**
 * `figure(tid)` of each of `pid`'s threads, added up by `name(threadName, isMain)`; a thread that
 * ended meanwhile, or whose figure is NaN, is not counted.
 */
function perThread(
  pid: number,
  name: (thread: string, isMain: boolean) => string,
  figure: (tid: number) => number,
): Record<string, number> {
  const out: Record<string, number> = {};
  let tasks: Deno.DirEntry[] = [];
  try {
    tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch { /* gone */ }
  for (const t of tasks) {
    const tid = Number(t.name);
    let comm = "";
    try {
      comm = Deno.readTextFileSync(`/proc/${pid}/task/${tid}/comm`).trim();
    } catch {
      continue; // ended meanwhile
    }
    const value = figure(tid);
    if (Number.isNaN(value)) continue;
    const key = name(comm, tid === pid);
    out[key] = (out[key] ?? 0) + value;
  }
  return out;
}

/**
 * CPU seconds of `pid`'s threads so far, added up by `name(threadName, isMain)` (threads that
 * ended are not counted).
 */
export function threadCpuSeconds(
  pid: number,
  name: (thread: string, isMain: boolean) => string,
): Record<string, number> {
  return perThread(pid, name, (tid) => cpuSeconds(pid, tid));
}

/**
 * Seconds `pid`'s threads spent runnable but waiting for a core so far (the run queue,
 * `/proc/<pid>/task/<tid>/schedstat`), added up by `name(threadName, isMain)`; empty where the
 * kernel keeps no such figure.
 */
export function threadWaitSeconds(
  pid: number,
  name: (thread: string, isMain: boolean) => string,
): Record<string, number> {
  return perThread(pid, name, (tid) => {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${tid}/schedstat`);
      return Number(stat.split(" ")[1]) / 1e9; // nanoseconds on the run queue
    } catch {
      return NaN; // ended meanwhile, or no schedstat
    }
  });
}

/** Idle CPU seconds of the whole host so far, every core added up (`/proc/stat`). */
export function hostIdleSeconds(): number {
  const cpu = Deno.readTextFileSync("/proc/stat").split("\n")[0].split(/\s+/);
  return (Number(cpu[4]) + Number(cpu[5])) / TICKS_PER_S; // idle + iowait
}

/**
 * Builds a Go command of this folder (`sources`, named relative to it) into `dir` as `name`, for
 * `what` (named in the error).
 * @throws when the Go toolchain is missing or the build fails
 */
export async function goBuild(
  dir: string,
  name: string,
  sources: string[],
  what: string,
): Promise<string> {
  const binary = `${dir}/${name}`;
  const paths = sources.map((f) => decodeURIComponent(new URL(f, import.meta.url).pathname));
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("go", { args: ["build", "-o", binary, ...paths] }).output();
  } catch (err) {
    throw new Error(`${what} needs the Go toolchain (go) on PATH`, { cause: err });
  }
  if (!out.success) throw new Error(`go build failed: ${new TextDecoder().decode(out.stderr)}`);
  return binary;
}

if (import.meta.main) {
  console.log(`Usage: not run on its own: what the benchmarks share (ports, nginx, wrk, RSS,
medians), imported by scripts/bench/*.ts.`);
}

/** Starts `scripts/iatp ARGS` of the checkout at `root`, its output discarded. */
export function spawnIatp(root: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(`${root}/scripts/iatp`, {
    args,
    cwd: root,
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Waits until `url` answers 2xx (every 100 ms, at most 30 s). */
export async function waitOk(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}
