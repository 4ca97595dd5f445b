/**
 * disk-monitor: raises `disk.high` for each configured path whose file system usage reaches the
 * threshold; severity critical above 95 %, high above 90 %, else medium.
 * @module
 */
import type { PluginContext, TriggerEvent } from "../sdk.ts";

interface Config {
  threshold: number;
  paths: string[];
  interval: number;
}

/** One df row. */
interface DiskUsage {
  path: string;
  filesystem: string;
  mount: string;
  total_bytes: number;
  used_bytes: number;
  available_bytes: number;
  disk_usage: number;
}

// `df -P` (POSIX format) keeps one line per file system, so mount names with spaces stay parseable
// from the right: Filesystem 1024-blocks Used Available Capacity Mounted-on.
function parseDf(out: string, paths: string[]): DiskUsage[] {
  const rows = out.trim().split("\n").slice(1);
  return rows.map((row, i) => {
    const f = row.trim().split(/\s+/);
    const [total, used, avail] = [Number(f[1]), Number(f[2]), Number(f[3])];
    return {
      path: paths[i],
      filesystem: f[0],
      mount: f.slice(5).join(" "),
      total_bytes: total * 1024,
      used_bytes: used * 1024,
      available_bytes: avail * 1024,
      // Same rounding as df's Capacity: used over what users can have.
      disk_usage: used + avail > 0 ? Math.round((used / (used + avail)) * 10000) / 100 : 0,
    };
  });
}

/** Detects full disks. */
export async function detect(ctx: PluginContext<Config>): Promise<TriggerEvent[]> {
  const { threshold, paths } = ctx.config;
  const out = await new Deno.Command("df", { args: ["-P", "-k", "--", ...paths] }).output();
  if (out.code !== 0) {
    throw new Error(`df failed (${out.code}): ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  const usages = parseDf(new TextDecoder().decode(out.stdout), paths);
  ctx.log.debug("disks sampled", { count: usages.length });
  return usages.filter((u) => u.disk_usage >= threshold).map((u) => ({
    id: crypto.randomUUID(),
    type: "disk.high",
    source: ctx.plugin.id,
    timestamp: new Date().toISOString(),
    severity: u.disk_usage > 95 ? "critical" : u.disk_usage > 90 ? "high" : "medium",
    data: { ...u, threshold },
    tags: ["disk", "host"],
  }));
}
