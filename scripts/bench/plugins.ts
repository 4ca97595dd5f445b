/**
 * Plugin runtime benchmark: prints one JSON object. Not a test: nothing here asserts a timing.
 *
 * Measures, for a trivial action plugin: warm call latency (p50/p99) through the sandbox against a
 * direct in-process call of the same function (overhead ratio, same run); cold start (spawn to
 * first result); kill-on-timeout latency (deadline to result, and to the child being reaped); RSS
 * of one warm host process.
 *
 * Run: deno run -A scripts/bench/plugins.ts [--calls N] [--cold N]
 * @module
 */
import { sleep } from "../../core/async/mod.ts";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { loadPlugin, PluginRunner } from "../../core/plugin/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    calls: { type: "string", default: "2000" },
    cold: { type: "string", default: "15" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: deno run -A scripts/bench/plugins.ts [--calls N] [--cold N]
  --calls N   warm calls through the sandbox and direct (default 2000)
  --cold N    cold starts (default 15)
Prints one JSON document.`);
  Deno.exit(0);
}
const CALLS = Number(values.calls);
const COLD = Number(values.cold);
const TIMEOUT_MS = 200;

const SOURCE = `
export function execute(_ctx: unknown, req: { n: number; spin?: boolean }) {
  if (req.spin) for (;;) {}
  return { n: req.n + 1, at: "bench" };
}
`;

function pct(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length));
  return Math.round(sorted[i] * 1000) / 1000;
}

function summary(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p99: pct(s, 99), max: pct(s, 100) };
}

async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

async function gone(pid: number): Promise<void> {
  for (;;) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      if (stat.split(" ")[2] === "Z") return; // killed, awaiting reap
    } catch {
      return;
    }
    await sleep(1);
  }
}

const dir = await Deno.makeTempDir({ prefix: "iatp-bench-plugin-" });
try {
  await Deno.writeTextFile(`${dir}/mod.ts`, SOURCE);
  await Deno.writeTextFile(
    `${dir}/plugin.yaml`,
    stringify({
      id: "bench",
      name: "Bench",
      version: "1.0.0",
      kind: "action",
      limits: { memory_mb: 64 },
    }),
  );
  const plugin = await loadPlugin(dir);

  // Direct in-process call of the same function: the floor the sandbox is compared with. One
  // call is below the timer's resolution, so time the whole batch and take the mean.
  const mod = await import(`file://${plugin.dir}/mod.ts`);
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) await mod.execute({}, { n: i });
  const directMean = (performance.now() - t0) / CALLS;

  const runner = new PluginRunner(plugin, { config: {}, maxCallsPerHost: CALLS + 10 });
  await runner.warm();
  for (let i = 0; i < 50; i++) await runner.execute({ n: i }); // JIT warm-up
  const warm: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now();
    const r = await runner.execute({ n: i });
    warm.push(performance.now() - t);
    if (!r.ok) throw new Error(`warm call failed: ${r.error.message}`);
  }
  const rss = await rssKiB(runner.hostPids()[0]);

  // Kill on timeout: deadline -> typed result, and deadline -> child killed (zombie or gone).
  const killResult: number[] = [];
  const killReaped: number[] = [];
  for (let i = 0; i < 5; i++) {
    await runner.warm();
    const pid = runner.hostPids()[0];
    const t = performance.now();
    const r = await runner.execute({ n: 0, spin: true }, { timeoutMs: TIMEOUT_MS });
    killResult.push(performance.now() - t - TIMEOUT_MS);
    await gone(pid);
    killReaped.push(performance.now() - t - TIMEOUT_MS);
    if (r.ok || r.error.type !== "timeout") throw new Error("expected a timeout");
  }
  await runner.close();

  // Cold start: a new runner, spawn, load, first result.
  const cold: number[] = [];
  for (let i = 0; i < COLD; i++) {
    const r = new PluginRunner(plugin, { config: {} });
    const t = performance.now();
    const res = await r.execute({ n: i });
    cold.push(performance.now() - t);
    await r.close();
    if (!res.ok) throw new Error(`cold call failed: ${res.error.message}`);
  }

  const w = summary(warm);
  const warmMean = warm.reduce((a, b) => a + b, 0) / warm.length;
  console.log(JSON.stringify({
    benchmark: "plugins",
    deno: Deno.version.deno,
    cpus: navigator.hardwareConcurrency,
    warm_call_ms: w,
    warm_call_mean_ms: Math.round(warmMean * 1000) / 1000,
    direct_call_mean_ms: Math.round(directMean * 100000) / 100000,
    overhead_ratio_mean: Math.round(warmMean / directMean),
    overhead_added_mean_ms: Math.round((warmMean - directMean) * 1000) / 1000,
    cold_start_ms: summary(cold),
    kill_on_timeout_ms: {
      to_result: summary(killResult),
      to_killed: summary(killReaped),
      timeout_ms: TIMEOUT_MS,
    },
    warm_host_rss_mib: Math.round((rss / 1024) * 10) / 10,
    targets: { warm_p50_ms: 5, cold_start_ms: 150, kill_ms: 50 },
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
}
