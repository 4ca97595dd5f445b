/**
 * cpu-monitor: raises `cpu.high` when CPU usage since the previous check (or over `sample_ms` on
 * the first) reaches the threshold. CPU times come from os.cpus() (the kernel's /proc/stat
 * counters) and the load average from Deno.loadavg() (/proc/loadavg).
 * @module
 */
import { cpus } from "node:os";
import type { PluginContext, TriggerEvent } from "../sdk.ts";

interface Config {
  threshold: number;
  interval: number;
  sample_ms: number;
}
interface Sample {
  busy: number;
  total: number;
  count: number;
}

// Usage is a difference of two counters: keep the last reading between calls on a warm host.
let previous: Sample | undefined;

function sample(): Sample {
  let busy = 0;
  let total = 0;
  const list = cpus();
  for (const { times } of list) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total, count: list.length };
}

/** Detects high CPU usage. */
export async function detect(ctx: PluginContext<Config>): Promise<TriggerEvent[]> {
  if (!previous) {
    previous = sample();
    await new Promise((r) => setTimeout(r, ctx.config.sample_ms));
  }
  const now = sample();
  const dTotal = now.total - previous.total;
  const usage = dTotal > 0 ? ((now.busy - previous.busy) / dTotal) * 100 : 0;
  previous = now;
  const cpu_usage = Math.round(Math.min(100, Math.max(0, usage)) * 100) / 100;
  ctx.log.debug("cpu sampled", { cpu_usage });
  if (cpu_usage < ctx.config.threshold) return [];
  return [{
    id: crypto.randomUUID(),
    type: "cpu.high",
    source: ctx.plugin.id,
    timestamp: new Date().toISOString(),
    severity: cpu_usage > 90 ? "high" : "medium",
    data: {
      cpu_usage,
      threshold: ctx.config.threshold,
      cpu_count: now.count,
      load_average: Deno.loadavg(),
    },
    tags: ["cpu", "host"],
  }];
}
