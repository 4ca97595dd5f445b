/**
 * Host metrics sampler: one snapshot in the status panel shape (PROTOCOLS.md §4) plus load,
 * uptime and CPU count. CPU usage is the busy share since the previous sample.
 * @module
 */
import {
  clampPct,
  type CpuTimes,
  cpuUsagePct,
  diskUsage,
  parseCpuCount,
  parseCpuTimes,
  parseLoadavg,
  parseMeminfo,
  parseUptime,
} from "./proc.ts";

/** The snapshot the status agent serves and publishes. */
export interface HostSnapshot {
  timestamp_ms: number;
  cpu_usage_pct: number;
  memory_total_bytes: number;
  memory_used_bytes: number;
  memory_used_pct: number;
  disk_total_bytes: number;
  disk_used_bytes: number;
  disk_used_pct: number;
  load_average: [number, number, number];
  uptime_secs: number;
  cpu_count: number;
}

/** Options for {@linkcode HostSampler}. */
export interface HostSamplerOptions {
  /** Where /proc is mounted (tests use a fixture dir). */
  procRoot?: string;
  /** A path on the filesystem whose usage is reported. */
  diskPath: string;
  now?: () => number;
  /** Replaces statfs (tests). */
  disk?: (path: string) => ReturnType<typeof diskUsage>;
}

/** Takes snapshots; keeps the previous CPU sample to compute usage. */
export class HostSampler {
  #prev: CpuTimes | undefined;
  readonly procRoot: string;

  constructor(private readonly opts: HostSamplerOptions) {
    this.procRoot = (opts.procRoot ?? "/proc").replace(/\/+$/, "");
  }

  /** Reads every source once. The first call reports CPU usage since boot. */
  sample(): HostSnapshot {
    const read = (name: string) => Deno.readTextFileSync(`${this.procRoot}/${name}`);
    const stat = read("stat");
    const cpu = parseCpuTimes(stat);
    const usage = cpuUsagePct(this.#prev ?? { idle: 0, total: 0 }, cpu);
    this.#prev = cpu;
    const mem = parseMeminfo(read("meminfo"));
    const disk = (this.opts.disk ?? diskUsage)(this.opts.diskPath);
    return {
      timestamp_ms: (this.opts.now ?? Date.now)(),
      cpu_usage_pct: usage,
      memory_total_bytes: mem.totalBytes,
      memory_used_bytes: mem.usedBytes,
      memory_used_pct: mem.totalBytes > 0 ? clampPct((mem.usedBytes / mem.totalBytes) * 100) : 0,
      disk_total_bytes: disk.totalBytes,
      disk_used_bytes: disk.usedBytes,
      disk_used_pct: disk.usedPct,
      load_average: parseLoadavg(read("loadavg")),
      uptime_secs: parseUptime(read("uptime")),
      cpu_count: parseCpuCount(stat),
    };
  }
}
