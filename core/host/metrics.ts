/**
 * Host metrics sampler: one snapshot in the status panel shape (docs/protocols.md) plus load,
 * uptime and CPU count. CPU usage is the busy share since the previous sample.
 *
 * Deno 2 refuses to read /proc files without --allow-all, so by default the same kernel counters
 * come through the --allow-sys APIs (os.cpus, Deno.systemMemoryInfo, Deno.loadavg, Deno.osUptime,
 * statfs); a `procRoot` (a fixture dir, or a host /proc mounted elsewhere) makes the sampler parse
 * the files instead.
 * @module
 */
import { cpus } from "node:os";
import {
  clampPct,
  type CpuTimes,
  cpuUsagePct,
  diskUsage,
  type MemoryInfo,
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
interface HostSamplerOptions {
  /** Parse /proc-format files under this dir instead of using the system APIs. */
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

  constructor(private readonly opts: HostSamplerOptions) {}

  /** Reads every source once. The first call reports CPU usage since boot. */
  sample(): HostSnapshot {
    const k = this.opts.procRoot ? readProcFiles(this.opts.procRoot) : readSystem();
    const usage = cpuUsagePct(this.#prev ?? { idle: 0, total: 0 }, k.cpu);
    this.#prev = k.cpu;
    const mem = k.mem;
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
      load_average: k.load,
      uptime_secs: k.uptime,
      cpu_count: k.cpuCount,
    };
  }
}

/** Kernel counters one sample needs. */
interface KernelCounters {
  cpu: CpuTimes;
  cpuCount: number;
  mem: MemoryInfo;
  load: [number, number, number];
  uptime: number;
}

function readProcFiles(root: string): KernelCounters {
  const read = (name: string) => Deno.readTextFileSync(`${root.replace(/\/+$/, "")}/${name}`);
  const stat = read("stat");
  return {
    cpu: parseCpuTimes(stat),
    cpuCount: parseCpuCount(stat),
    mem: parseMeminfo(read("meminfo")),
    load: parseLoadavg(read("loadavg")),
    uptime: parseUptime(read("uptime")),
  };
}

function readSystem(): KernelCounters {
  const list = cpus();
  let idle = 0;
  let total = 0;
  for (const c of list) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  const m = Deno.systemMemoryInfo();
  const [a, b, c] = Deno.loadavg();
  return {
    cpu: { idle, total },
    cpuCount: list.length,
    // Same rule as /proc/meminfo: used = total - available.
    mem: { totalBytes: m.total, usedBytes: Math.max(0, m.total - m.available) },
    load: [a, b, c],
    uptime: Deno.osUptime(),
  };
}
