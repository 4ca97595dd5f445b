/**
 * Sidecar benchmark (prints JSON). A 1.1 KB JSON POST through `iatp sidecar` (spawned by the
 * launcher with its real permissions) to a local upstream, against, in the same run:
 * (a) the upstream directly and (b) nginx `proxy_pass` with keepalive and
 * `client_body_buffer_size 64k`. The upstream is its own nginx (one worker, `return 200`), so
 * both proxies pay for the same thing. Load comes from wrk -t1: at full load (closed loop,
 * 64 connections) and at half of the sidecar's full-load rate (paced with wrk's delay()).
 * Also: sidecar peak RSS under load, and detection MB/s on a digit-heavy 1 MB body and on
 * 1 MB of adversarial digits/separators, with a 256 KB -> 1 MB time ratio to show linearity.
 *
 * Usage: deno run -A scripts/bench/sidecar.ts [--duration 8] [--connections 64] [--detection-only]
 * Needs nginx and wrk (`apt-get install -y nginx wrk`); without them only detection runs.
 * @module
 */
import { sleep } from "../../core/async/mod.ts";
import { parseArgs } from "node:util";
import { scanPii } from "../../core/pii/mod.ts";
import { ROOT } from "../../tests/helpers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "8" },
    connections: { type: "string", default: "64" },
    "detection-only": { type: "boolean", default: false },
  },
});
const DURATION = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const HALF_LOAD_CONNECTIONS = 8;

/** A realistic 1.1 KB agent request without PII. */
function requestBody(): string {
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

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function has(cmd: string): Promise<boolean> {
  try {
    return (await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

function nginxConf(prefix: string, server: string): string {
  return `worker_processes 1;
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

async function startNginx(dir: string, name: string, server: string, port: number) {
  const prefix = `${dir}/${name}`;
  await Deno.mkdir(prefix, { recursive: true });
  await Deno.writeTextFile(`${prefix}/nginx.conf`, nginxConf(prefix, server));
  const child = new Deno.Command("nginx", {
    args: ["-p", prefix, "-c", `${prefix}/nginx.conf`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitPort(port);
  return child;
}

async function waitPort(port: number, timeoutMs = 30_000): Promise<void> {
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

/** One wrk run's figures. */
interface WrkResult {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  return unit === "us" ? v / 1000 : unit === "s" ? v * 1000 : v;
}

async function wrk(url: string, script: string, connections: number): Promise<WrkResult> {
  const out = await new Deno.Command("wrk", {
    args: ["-t1", `-c${connections}`, `-d${DURATION}s`, "--latency", "-s", script, url],
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

async function wrkScript(
  dir: string,
  name: string,
  body: string,
  delayMs?: number,
): Promise<string> {
  const path = `${dir}/${name}.lua`;
  const lua = [
    'wrk.method = "POST"',
    `wrk.body = ${JSON.stringify(body)}`,
    'wrk.headers["Content-Type"] = "application/json"',
    ...(delayMs !== undefined ? [`function delay() return ${delayMs} end`] : []),
  ].join("\n");
  await Deno.writeTextFile(path, lua + "\n");
  return path;
}

function rssMb(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024 * 10) / 10;
  } catch {
    return NaN;
  }
}

/** Runs wrk while sampling the sidecar's RSS; returns the result and the peak. */
async function wrkWithRss(url: string, script: string, pid: number) {
  let peak = rssMb(pid);
  const timer = setInterval(() => peak = Math.max(peak, rssMb(pid)), 200);
  const result = await wrk(url, script, CONNECTIONS);
  clearInterval(timer);
  return { result, peak };
}

function digitHeavy(size: number): string {
  const items: string[] = [];
  let len = 12;
  for (let i = 0; len < size; i++) {
    const it = JSON.stringify({
      id: 1_000_000 + i,
      order: `ORD-${20_240_000 + i}`,
      ts: 1_700_000_000_000 + i * 1000,
      phone: `+1-555-${1000 + (i % 9000)}`,
      amount: (i * 37.5) % 10_000,
      sku: `${100_000 + i}-${i % 97}`,
      ref: String(4_000_000_000_000_000 + i * 7919),
      date: "2024-05-17 10:30:00",
    });
    items.push(it);
    len += it.length + 1;
  }
  return `{"items":[${items.join(",")}]}`;
}

function mbPerSecond(text: string): number {
  for (let i = 0; i < 5; i++) scanPii(text, { json: true });
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    scanPii(text, { json: true });
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  return Math.round(text.length / 1e6 / (median / 1000));
}

function detection() {
  const mb = 1 << 20;
  const adversarial: Record<string, number> = {};
  for (
    const [name, unit] of Object.entries({
      digits: "4",
      digit_groups: "4532 ",
      digit_hyphen: "1-",
      mixed: "4532-0151 12 ",
      cards: "4532015112830366 ",
      // Every number a bare SSN candidate whose context must be looked up.
      ssn_context: "ssn 078051120 ",
    })
  ) {
    adversarial[name] = mbPerSecond(`{"a":"${unit.repeat(Math.ceil(mb / unit.length))}"}`);
  }
  const heavy = digitHeavy(mb);
  const quarter = digitHeavy(mb / 4);
  const mixedQ = `{"a":"${"4532-0151 12 ".repeat(Math.ceil(mb / 4 / 13))}"}`;
  const mixedF = `{"a":"${"4532-0151 12 ".repeat(Math.ceil(mb / 13))}"}`;
  return {
    digit_heavy_1mb_mb_per_s: mbPerSecond(heavy),
    digit_heavy_findings: scanPii(heavy, { json: true }).creditCards,
    adversarial_1mb_mb_per_s: adversarial,
    // Throughput at 256 KB vs 1 MB: equal rates mean time grows linearly with size.
    linearity_rate_ratio_1mb_vs_256kb: {
      digit_heavy: Math.round(mbPerSecond(heavy) / mbPerSecond(quarter) * 100) / 100,
      adversarial_mixed: Math.round(mbPerSecond(mixedF) / mbPerSecond(mixedQ) * 100) / 100,
    },
    target_mb_per_s: 300,
  };
}

async function loadTest(dir: string) {
  const body = requestBody();
  const [up, px, sc] = [freePort(), freePort(), freePort()];
  const upstream = await startNginx(
    dir,
    "upstream",
    `server { listen 127.0.0.1:${up}; location / { default_type application/json; return 200 '{"ok":true}'; } }`,
    up,
  );
  const nginx = await startNginx(
    dir,
    "proxy",
    `upstream agent { server 127.0.0.1:${up}; keepalive 64; }
  server { listen 127.0.0.1:${px}; client_body_buffer_size 64k;
    location / { proxy_pass http://agent; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
    px,
  );
  const sidecar = new Deno.Command(`${ROOT}scripts/iatp`, {
    args: ["sidecar", "--port", String(sc), "--log-level", "warn"],
    env: { IATP_AGENT_URL: `http://127.0.0.1:${up}`, IATP_DATA_DIR: dir },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    await waitPort(sc);
    const full = await wrkScript(dir, "full", body);
    const targets = {
      upstream_direct: `http://127.0.0.1:${up}/`,
      nginx_proxy: `http://127.0.0.1:${px}/`,
      sidecar: `http://127.0.0.1:${sc}/proxy`,
    };
    await wrk(targets.sidecar, full, CONNECTIONS); // warm-up (JIT, connection pool)
    const max: Record<string, WrkResult> = {};
    let rss = NaN;
    for (const [name, url] of Object.entries(targets)) {
      if (name === "sidecar") {
        const r = await wrkWithRss(url, full, sidecar.pid);
        max[name] = r.result;
        rss = r.peak;
      } else {
        max[name] = await wrk(url, full, CONNECTIONS);
      }
    }
    const targetRps = Math.round(max.sidecar.rps / 2);
    const delayMs = Math.max(1, Math.round(HALF_LOAD_CONNECTIONS / targetRps * 1000));
    const paced = await wrkScript(dir, "paced", body, delayMs);
    const half: Record<string, WrkResult> = {};
    for (const [name, url] of Object.entries(targets)) {
      half[name] = await wrk(url, paced, HALF_LOAD_CONNECTIONS);
    }
    const r2 = (x: number) => Math.round(x * 1000) / 1000;
    return {
      body_bytes: body.length,
      full_load: { connections: CONNECTIONS, ...max },
      sidecar_vs_nginx_rps: r2(max.sidecar.rps / max.nginx_proxy.rps),
      sidecar_vs_direct_rps: r2(max.sidecar.rps / max.upstream_direct.rps),
      half_load: {
        connections: HALF_LOAD_CONNECTIONS,
        target_rps: targetRps,
        ...half,
        sidecar_added_p99_ms: r2(half.sidecar.p99_ms - half.upstream_direct.p99_ms),
        nginx_added_p99_ms: r2(half.nginx_proxy.p99_ms - half.upstream_direct.p99_ms),
      },
      sidecar_peak_rss_mb: rss,
    };
  } finally {
    for (const child of [sidecar, nginx, upstream]) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
    }
  }
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "iatp-bench-sidecar-" });
  try {
    const tools = (await has("nginx")) && (await has("wrk"));
    const load = values["detection-only"]
      ? { skipped: "--detection-only" }
      : tools
      ? await loadTest(dir)
      : { skipped: "nginx or wrk not installed" };
    console.log(JSON.stringify(
      {
        benchmark: "sidecar",
        cores: navigator.hardwareConcurrency,
        duration_s: DURATION,
        load,
        detection: detection(),
        targets: {
          rps_vs_nginx: 0.8,
          added_p99_ms_at_half_load: 1,
          rss_mb: 80,
          detection_mb_per_s: 300,
        },
      },
      null,
      2,
    ));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
