/**
 * Runs the benchmarks (sidecar, startup/idle RSS, relay) one after another, each in its own
 * process, and prints one JSON summary: every ratio or figure with its target and whether it
 * was met, plus each benchmark's full output. Targets are ratios against peers measured in the
 * same run wherever a peer exists (absolute speeds vary several-fold on shared machines).
 *
 * Usage: scripts/bench/run [--only sidecar,startup,relay,workers] [--go-sidecar PATH]
 *   [--duration 5] [--rounds 3] [--relay-subs 10000] [--workers N]
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string", default: "sidecar,startup,relay,workers" },
    "go-sidecar": { type: "string" },
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    "relay-subs": { type: "string", default: "10000" },
    workers: { type: "string", default: String(navigator.hardwareConcurrency) },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: scripts/bench/run [--only sidecar,startup,relay,workers] [--go-sidecar PATH]
  [--duration S] [--rounds N] [--relay-subs N] [--workers N]
  --only LIST          benchmarks to run, comma separated (default sidecar,startup,relay,workers)
  --go-sidecar PATH    a Go sidecar binary the sidecar benchmark compares with
  --duration S         seconds of each sidecar run (default 5)
  --rounds N           sidecar rounds (default 3)
  --relay-subs N       subscribers of the relay's fan-out (default 10000)
  --workers N          workers of the workers benchmark (default the cores)
Runs each benchmark in its own process; prints one JSON summary.`);
  Deno.exit(0);
}
const HERE = decodeURIComponent(new URL(".", import.meta.url).pathname);

/** One figure against its target. */
interface Check {
  metric: string;
  value: number | null;
  target: string;
  met: boolean | null;
}

/** Runs `script` with `args` and parses the JSON object it prints last. */
async function runBench(script: string, args: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${HERE}${script}`, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const start = text.indexOf("{");
  if (!out.success || start < 0) return { failed: `${script} exited ${out.code}` };
  return JSON.parse(text.slice(start));
}

/** Reads a number at `path` (dot separated) in `obj`; null when absent. */
function at(obj: unknown, path: string): number | null {
  let v: unknown = obj;
  for (const k of path.split(".")) {
    if (typeof v !== "object" || v === null) return null;
    v = (v as Record<string, unknown>)[k];
  }
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function atLeast(metric: string, value: number | null, target: number): Check {
  return { metric, value, target: `>= ${target}`, met: value === null ? null : value >= target };
}

function atMost(metric: string, value: number | null, target: number): Check {
  return { metric, value, target: `<= ${target}`, met: value === null ? null : value <= target };
}

function sidecarChecks(r: Record<string, unknown>): Check[] {
  return [
    atLeast("sidecar rps / nginx proxy_pass rps", at(r, "load.sidecar_vs_nginx_rps"), 0.8),
    atLeast("sidecar rps / Go IATP sidecar rps", at(r, "load.sidecar_vs_go_rps"), 5),
    atLeast("sidecar rps / naive Deno proxy rps", at(r, "load.sidecar_vs_naive_deno_rps"), 1),
    atMost("sidecar added p99 at half load (ms)", at(r, "load.half_load.sidecar_added_p99_ms"), 1),
    atMost("sidecar peak RSS under load (MB)", at(r, "load.sidecar_peak_rss_mb"), 80),
    atMost(
      "detection time / JSON.parse time (1 MB)",
      at(r, "detection.detection_vs_json_parse_time"),
      1,
    ),
    atMost(
      "detection time / JSON.parse time, digits beyond ASCII (1 MB)",
      at(r, "detection.detection_vs_json_parse_time_wide_digits"),
      1,
    ),
    atLeast(
      "detection rate 1 MB / 256 KB (linear)",
      at(r, "detection.linearity_rate_ratio_1mb_vs_256kb.digit_heavy"),
      0.8,
    ),
  ];
}

/** Every service whose idle RSS has a target. */
const IDLE_SERVICES = [
  "sidecar",
  "relay",
  "policy",
  "audit",
  "dashboard",
  "status",
  "compose-agent",
  "sensor",
  "action",
];

function startupChecks(r: Record<string, unknown>): Check[] {
  return IDLE_SERVICES.map((s) =>
    atMost(`${s} idle RSS (MB)`, at(r, `${s}.via_launcher.idle_rss_mb`), 50)
  );
}

function relayChecks(r: Record<string, unknown>): Check[] {
  return [
    atMost(
      "relay RSS with the subscribers, after publishing (MB)",
      at(r, "a_fanout.relay_rss_mb.after_publishing"),
      300,
    ),
    atMost("relay fan-out delivery p99 (ms)", at(r, "a_fanout.latency.p99_ms"), 1000),
    atLeast(
      "relay achieved publishes/s (1,000 asked)",
      at(r, "b_steady_rate.achieved_publish_rate"),
      950,
    ),
    atMost(
      "relay delivery p99 at 1,000 publishes/s (ms)",
      at(r, "b_steady_rate.latency.p99_ms"),
      50,
    ),
    atLeast("relay deliveries/s / redis pub/sub", at(r, "c_throughput_vs_redis.ratio_vs_redis"), 1),
  ];
}

function workersChecks(r: Record<string, unknown>): Check[] {
  const n = at(r, "sidecar.workers") ?? at(r, "relay.workers");
  return [
    atLeast(
      `sidecar --workers ${n} rps / nginx ${n} workers rps`,
      at(r, "sidecar.sidecar_n_vs_nginx_n_rps"),
      0.8,
    ),
    atLeast(
      `relay --workers ${n} deliveries/s / --workers 1`,
      at(r, "relay.relay_scaling_n_vs_1"),
      1,
    ),
  ];
}

const only = new Set(values.only.split(",").map((s) => s.trim()));
const started = new Date().toISOString();
const results: Record<string, Record<string, unknown>> = {};
const checks: Check[] = [];
if (only.has("sidecar")) {
  const go = values["go-sidecar"] ? ["--go-sidecar", values["go-sidecar"]] : [];
  const args = ["--duration", values.duration, "--rounds", values.rounds, ...go];
  results.sidecar = await runBench("sidecar.ts", args);
  checks.push(...sidecarChecks(results.sidecar));
}
if (only.has("startup")) {
  results.startup = await runBench("startup.ts", [
    "--runs",
    "3",
    "--services",
    IDLE_SERVICES.join(","),
  ]);
  checks.push(...startupChecks(results.startup));
}
if (only.has("workers")) {
  const args = [
    "--workers",
    values.workers,
    "--duration",
    values.duration,
    "--rounds",
    values.rounds,
  ];
  results.workers = await runBench("workers.ts", args);
  checks.push(...workersChecks(results.workers));
}
if (only.has("relay")) {
  results.relay = await runBench("relay.ts", ["--subs", values["relay-subs"]]);
  checks.push(...relayChecks(results.relay));
}
console.log(JSON.stringify(
  {
    started,
    command: `scripts/bench/run ${Deno.args.join(" ")}`.trim(),
    cores: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    summary: checks,
    met: checks.filter((c) => c.met === true).length,
    missed: checks.filter((c) => c.met === false).length,
    not_measured: checks.filter((c) => c.met === null).map((c) => c.metric),
    results,
  },
  null,
  2,
));
