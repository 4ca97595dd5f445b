/**
 * Sidecar benchmark (prints JSON). A 1.1 KB JSON POST through `iatp sidecar` (spawned by the
 * launcher with its real permissions, default checks on) to a local upstream, against peers in
 * the same run: the upstream directly, nginx `proxy_pass` (one worker, keepalive upstream), a
 * naive Deno proxy (Deno.serve + fetch, no checks), and the upstream IATP Go sidecar when its
 * built binary is given (`--go-sidecar PATH`; it is never fetched or built here). The upstream
 * is its own nginx (one worker, `return 200`), so every proxy pays for the same thing. Load
 * comes from wrk -t1, 64 connections, in `--rounds` rounds that each run every target once
 * (the order rotating), so a busy spell on the machine hits all of them; ratios are medians of
 * the per-round ratios. Then, at half the sidecar's median rate, the added p99 over the upstream
 * directly: an open-loop load (open_load.go, built with `go`): Poisson arrivals at that rate
 * over 64 keep-alive connections, each request's latency counted from the time it was due, so
 * a stall shows in full, after a warm-up second at the same rate that opens the connections and
 * is reported apart (`warmup_p99_ms`, `warmup_max_ms`). Each target's achieved rate is reported
 * beside its latency (`rps_vs_target`). Also: the sidecar's peak RSS under load, and
 * detection (the scan the sidecar runs on a body: JSON, secret members, the body's bytes): MB/s
 * on a digit-heavy 1 MB body and on adversarial digits/separators, its cost against
 * `JSON.parse` of the same body (also for a scan of the string alone, and for the walk `/proxy`
 * runs, which also checks that the body is one JSON object), and a 256 KB -> 1 MB
 * rate ratio (linearity).
 *
 * Usage: deno run -A scripts/bench/sidecar.ts [--duration 5] [--rounds 3] [--connections 64]
 *   [--go-sidecar PATH] [--detection-only]
 * Needs nginx and wrk (`apt-get install -y nginx wrk`), and go for the half-load run; without nginx
 * and wrk only detection runs.
 * @module
 */
import { parseArgs } from "node:util";
import { isSensitiveKey } from "../../core/log/mod.ts";
import { scanJsonObjectBytes, scanPii } from "../../core/pii/mod.ts";
import { ROOT } from "../../tests/helpers.ts";
import {
  freePort,
  goBuild,
  has,
  median,
  proxyServer,
  r3,
  requestBody,
  rssMb,
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
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "64" },
    "go-sidecar": { type: "string" },
    "detection-only": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: deno run -A scripts/bench/sidecar.ts [--duration S] [--rounds N]
  [--connections N] [--go-sidecar PATH] [--detection-only]
A short run: --duration 2 --rounds 1 (about 20 s with the Go sidecar). Defaults: 5 s, 3 rounds, 64
connections. Prints one JSON document (see docs/performance.md).`);
  Deno.exit(0);
}
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const GO_SIDECAR = values["go-sidecar"];
/** Keep-alive connections of the half-load run (a request due while all are busy waits). */
const HALF_LOAD_CONNECTIONS = 64;
/**
 * Seconds of the half-load run sent first and reported apart: its first requests open the
 * connections and meet a target that sat idle while the others ran.
 */
const HALF_LOAD_WARMUP_S = 1;

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

/** `text` with every ASCII digit written as the decimal digit of value `d` after `zero`. */
function inScript(text: string, zero: number): string {
  return text.replace(/[0-9]/g, (d) => String.fromCodePoint(zero + Number(d)));
}

/** `text` with every ASCII digit written as a JSON escape of the digit after `zero`. */
function escapedScript(text: string, zero: number): string {
  return text.replace(/[0-9]/g, (d) => "\\u" + (zero + Number(d)).toString(16));
}

/**
 * A body as digit-heavy as {@linkcode digitHeavy} whose digits are beyond ASCII: card-like
 * numbers in full-width digits (3-byte UTF-8, one in ten passes Luhn), SSNs in Arabic-Indic
 * (2-byte), phone numbers in Devanagari, references as JSON escapes of full-width digits, and
 * notes mixing scripts, CJK words and ASCII.
 */
function wideDigitHeavy(size: number): string {
  const items: string[] = [];
  let len = 12;
  for (let i = 0; len < size; i++) {
    const card = String(4_532_015_100_000_000 + i * 7919).replace(/(\d{4})(?=\d)/g, "$1 ");
    const ssn = `${100 + (i % 800)}-${10 + (i % 89)}-${1000 + (i % 9000)}`;
    const it = JSON.stringify({
      id: inScript(String(1_000_000 + i), 0x966),
      card: inScript(card, 0xff10),
      ssn: inScript(ssn, 0x660),
      phone: `+1-${inScript(`555-${1000 + (i % 9000)}`, 0x966)}`,
      note: `注文 ${inScript(String(20_240_000 + i), 0xff10)} 東京 ${
        inScript("2024-05-17", 0x6f0)
      } ok ${i % 97}`,
    }).slice(0, -1) + `,"ref":"${escapedScript(String(4_916_000_000_000_000 + i * 31), 0xff10)}"}`;
    items.push(it);
    len += new TextEncoder().encode(it).length + 1;
  }
  return `{"items":[${items.join(",")}]}`;
}

/** Median milliseconds of `f` over 30 runs after 5 warm-ups. */
function medianMs(f: () => unknown): number {
  for (let i = 0; i < 5; i++) f();
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    f();
    times.push(performance.now() - t);
  }
  return median(times);
}

/**
 * Detection: the PII scan the sidecar runs over a request body, in JSON mode with secret members,
 * reading the body's UTF-8 bytes (core/pii through `scanPii`, as the long way and the recorder run
 * it).
 */
function detect(text: string, bytes: Uint8Array) {
  return scanPii(text, { json: true, secretKey: isSensitiveKey }, bytes);
}

/**
 * The walk `/proxy` runs over a body (core/sidecar/body.ts through `scrubJsonObjectBytes`): the
 * same scan, checking in the same walk that the body is one JSON object.
 */
function walk(bytes: Uint8Array) {
  const scan = scanJsonObjectBytes(bytes, WALK_OPTIONS);
  if (scan === undefined) throw new Error("the benchmark's body is not one JSON object");
  return scan;
}
const WALK_OPTIONS = { json: true, checkObject: true, secretKey: isSensitiveKey } as const;

const utf8 = new TextEncoder();

function mbPerSecond(text: string): number {
  const bytes = utf8.encode(text);
  return Math.round(bytes.length / 1e6 / (medianMs(() => detect(text, bytes)) / 1000));
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
  const heavyBytes = utf8.encode(heavy);
  const quarter = digitHeavy(mb / 4);
  const mixedQ = `{"a":"${"4532-0151 12 ".repeat(Math.ceil(mb / 4 / 13))}"}`;
  const mixedF = `{"a":"${"4532-0151 12 ".repeat(Math.ceil(mb / 13))}"}`;
  const wide = wideDigitHeavy(mb);
  const wideBytes = utf8.encode(wide);
  const wideQuarter = wideDigitHeavy(mb / 4);
  // Alternating, so all see the same machine.
  const scan: number[] = [];
  const text: number[] = [];
  const walked: number[] = [];
  const parse: number[] = [];
  const wideScan: number[] = [];
  const wideWalked: number[] = [];
  const wideParse: number[] = [];
  for (let i = 0; i < 3; i++) {
    scan.push(medianMs(() => detect(heavy, heavyBytes)));
    text.push(medianMs(() => scanPii(heavy, { json: true })));
    walked.push(medianMs(() => walk(heavyBytes)));
    parse.push(medianMs(() => JSON.parse(heavy)));
    wideScan.push(medianMs(() => detect(wide, wideBytes)));
    wideWalked.push(medianMs(() => walk(wideBytes)));
    wideParse.push(medianMs(() => JSON.parse(wide)));
  }
  const wideFound = detect(wide, wideBytes);
  return {
    digit_heavy_1mb_mb_per_s: mbPerSecond(heavy),
    digit_heavy_findings: detect(heavy, heavyBytes).creditCards,
    // Time of the sidecar's scan over time of one JSON.parse of the same 1 MB (target: <= 1).
    detection_vs_json_parse_time: r3(median(scan) / median(parse)),
    // The same for a scan of the string alone (encoded first), without secret members.
    detection_vs_json_parse_time_string: r3(median(text) / median(parse)),
    // The walk /proxy runs: the scan and the check that the body is one JSON object, in one.
    walk_vs_json_parse_time: r3(median(walked) / median(parse)),
    // The same over a 1 MB body whose digits are beyond ASCII (full-width, Arabic-Indic,
    // Devanagari, escaped): its own JSON.parse is the peer (target: <= 1).
    wide_digits_1mb_mb_per_s: mbPerSecond(wide),
    wide_digits_findings: { cards: wideFound.creditCards, ssns: wideFound.ssns },
    detection_vs_json_parse_time_wide_digits: r3(median(wideScan) / median(wideParse)),
    walk_vs_json_parse_time_wide_digits: r3(median(wideWalked) / median(wideParse)),
    adversarial_1mb_mb_per_s: adversarial,
    // Throughput at 256 KB vs 1 MB: equal rates mean time grows linearly with size.
    linearity_rate_ratio_1mb_vs_256kb: {
      digit_heavy: Math.round(mbPerSecond(heavy) / mbPerSecond(quarter) * 100) / 100,
      adversarial_mixed: Math.round(mbPerSecond(mixedF) / mbPerSecond(mixedQ) * 100) / 100,
      wide_digits: Math.round(mbPerSecond(wide) / mbPerSecond(wideQuarter) * 100) / 100,
    },
  };
}

/** The upstream, nginx, the naive Deno proxy, the Go sidecar (when given) and the sidecar. */
async function startTargets(dir: string) {
  const [up, px, nv, go, sc] = [freePort(), freePort(), freePort(), freePort(), freePort()];
  const children: Deno.ChildProcess[] = [];
  children.push(
    await startNginx(
      dir,
      "upstream",
      upstreamServer(up),
      up,
    ),
  );
  children.push(
    await startNginx(
      dir,
      "proxy",
      proxyServer(px, up),
      px,
    ),
  );
  const upstream = `http://127.0.0.1:${up}`;
  // Only the sidecar's stderr is shown (the Go sidecar logs every record there).
  const spawn = (cmd: string, args: string[], env: Record<string, string>, show = false) => {
    const stderr = show ? "inherit" : "null";
    const child = new Deno.Command(cmd, { args, env, stdout: "null", stderr }).spawn();
    children.push(child);
    return child;
  };
  const naive = `${ROOT}scripts/bench/naive_proxy.ts`;
  spawn(Deno.execPath(), ["run", "-A", naive, String(nv), upstream], {});
  if (GO_SIDECAR) spawn(GO_SIDECAR, [], { IATP_AGENT_URL: upstream, IATP_PORT: String(go) });
  const sidecar = spawn(
    `${ROOT}scripts/iatp`,
    ["sidecar", "--port", String(sc), "--log-level", "warn", "--workers", "1"],
    { IATP_AGENT_URL: upstream, IATP_DATA_DIR: dir },
    true,
  );
  for (const p of [nv, sc, ...(GO_SIDECAR ? [go] : [])]) await waitPort(p);
  const targets: Record<string, string> = {
    upstream_direct: `${upstream}/`,
    nginx_proxy: `http://127.0.0.1:${px}/`,
    naive_deno_proxy: `http://127.0.0.1:${nv}/`,
    ...(GO_SIDECAR ? { go_sidecar: `http://127.0.0.1:${go}/proxy` } : {}),
    sidecar: `http://127.0.0.1:${sc}/proxy`,
  };
  return { targets, children, sidecarPid: sidecar.pid };
}

/** CPU time (user + system) of `pid` so far, in microseconds; NaN once it is gone. */
function cpuUs(pid: number): number {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks * 1e6 / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/**
 * Full load in rounds (rotating order), the sidecar's RSS sampled while it runs and its CPU
 * time per request measured (less swayed by other work on the host than its rate).
 */
async function fullLoad(targets: Record<string, string>, script: string, pid: number) {
  const names = Object.keys(targets);
  const rounds: Record<string, WrkResult>[] = [];
  const cpuPerRequest: number[] = [];
  let peak = rssMb(pid);
  for (let round = 0; round < ROUNDS; round++) {
    const results: Record<string, WrkResult> = {};
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length];
      const sidecar = name === "sidecar";
      const timer = sidecar ? setInterval(() => peak = Math.max(peak, rssMb(pid)), 200) : undefined;
      const cpu0 = cpuUs(pid);
      results[name] = await wrk(targets[name], script, CONNECTIONS, DURATION);
      clearInterval(timer);
      if (sidecar) cpuPerRequest.push((cpuUs(pid) - cpu0) / (results[name].rps * DURATION));
    }
    rounds.push(results);
  }
  const rps = Object.fromEntries(names.map((n) => [n, rounds.map((r) => r[n].rps)]));
  const ratio = (peer: string) => r3(median(rounds.map((r) => r.sidecar.rps / r[peer].rps)));
  return { rounds, rps, ratio, peak, cpuPerRequest: cpuPerRequest.map((x) => Math.round(x)) };
}

/** One target's half-load run (open_load.go's output) and its rate over the target. */
interface HalfLoadRun {
  due: number;
  answered: number;
  errors: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  waited_for_connection: number;
  warmup_s: number;
  warmup_answered: number;
  warmup_p99_ms: number;
  warmup_max_ms: number;
  rps_vs_target: number;
}

/** `url` at `rps` requests/s, Poisson arrivals, for the run's duration (see open_load.go). */
async function openLoad(
  binary: string,
  url: string,
  rps: number,
  bodyFile: string,
): Promise<HalfLoadRun> {
  const args = ["-url", url, "-rate", String(rps), "-duration", String(DURATION)];
  args.push("-conns", String(HALF_LOAD_CONNECTIONS), "-body", bodyFile);
  args.push("-warmup", String(HALF_LOAD_WARMUP_S));
  const out = await new Deno.Command(binary, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(`open_load ${url}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  const r = JSON.parse(text) as Omit<HalfLoadRun, "rps_vs_target">;
  return { ...r, rps: Math.round(r.rps), rps_vs_target: r3(r.rps / rps) };
}

async function loadTest(dir: string) {
  const body = requestBody();
  const { targets, children, sidecarPid } = await startTargets(dir);
  try {
    const full = await wrkScript(dir, "full", body);
    const idleRss = rssMb(sidecarPid);
    await wrk(targets.sidecar, full, CONNECTIONS, DURATION); // warm-up (JIT, connection pool)
    const load = await fullLoad(targets, full, sidecarPid);
    const targetRps = Math.round(median(load.rps.sidecar) / 2);
    const openLoadBinary = await goBuild(
      dir,
      "open_load",
      ["./open_load.go", "./open_load_parse.go"],
      "the half-load run",
    );
    const bodyFile = `${dir}/body.json`;
    await Deno.writeTextFile(bodyFile, body);
    const half: Record<string, HalfLoadRun> = {};
    for (const name of ["upstream_direct", "nginx_proxy", "sidecar"]) {
      half[name] = await openLoad(openLoadBinary, targets[name], targetRps, bodyFile);
    }
    return {
      body_bytes: body.length,
      connections: CONNECTIONS,
      rounds: ROUNDS,
      rps_by_round: load.rps,
      rps_median: Object.fromEntries(Object.entries(load.rps).map(([n, xs]) => [n, median(xs)])),
      errors: Object.fromEntries(
        Object.keys(targets).map((n) => [n, load.rounds.reduce((s, r) => s + r[n].errors, 0)]),
      ),
      sidecar_vs_nginx_rps: load.ratio("nginx_proxy"),
      sidecar_vs_naive_deno_rps: load.ratio("naive_deno_proxy"),
      sidecar_vs_go_rps: GO_SIDECAR ? load.ratio("go_sidecar") : null,
      go_sidecar: GO_SIDECAR ?? "absent: pass --go-sidecar PATH to compare",
      sidecar_vs_direct_rps: load.ratio("upstream_direct"),
      half_load: {
        connections: HALF_LOAD_CONNECTIONS,
        arrivals: "poisson",
        target_rps: targetRps,
        ...half,
        sidecar_added_p99_ms: r3(half.sidecar.p99_ms - half.upstream_direct.p99_ms),
        nginx_added_p99_ms: r3(half.nginx_proxy.p99_ms - half.upstream_direct.p99_ms),
      },
      sidecar_peak_rss_mb: load.peak,
      sidecar_idle_rss_mb_before_load: idleRss,
      // CPU time the sidecar spent per request at full load, per round (microseconds).
      sidecar_cpu_us_per_request: median(load.cpuPerRequest),
      sidecar_cpu_us_per_request_by_round: load.cpuPerRequest,
    };
  } finally {
    await stopAll(children.reverse());
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
          rps_vs_go_sidecar: 5,
          added_p99_ms_at_half_load: 1,
          rss_mb: 80,
          detection_vs_json_parse_time: 1,
          detection_vs_json_parse_time_wide_digits: 1,
        },
      },
      null,
      2,
    ));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
