/**
 * memory-monitor: raises `memory.high` when used memory (total minus available) reaches the
 * threshold percent; severity high above 95 %, else medium.
 * @module
 */
import type { PluginContext, TriggerEvent } from "../sdk.ts";

interface Config {
  threshold: number;
  interval: number;
}

const pct = (part: number, whole: number) =>
  whole > 0 ? Math.round((part / whole) * 10000) / 100 : 0;

/** Detects high memory usage. */
export function detect(ctx: PluginContext<Config>): TriggerEvent[] {
  const m = Deno.systemMemoryInfo();
  const used = m.total - m.available;
  const memory_usage = pct(used, m.total);
  ctx.log.debug("memory sampled", { memory_usage });
  if (memory_usage < ctx.config.threshold) return [];
  return [{
    id: crypto.randomUUID(),
    type: "memory.high",
    source: ctx.plugin.id,
    timestamp: new Date().toISOString(),
    severity: memory_usage > 95 ? "high" : "medium",
    data: {
      memory_usage,
      threshold: ctx.config.threshold,
      total_bytes: m.total,
      used_bytes: used,
      available_bytes: m.available,
      swap_usage: pct(m.swapTotal - m.swapFree, m.swapTotal),
    },
    tags: ["memory", "host"],
  }];
}
