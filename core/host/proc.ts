/**
 * Readers for the Linux /proc files the status agent reports: CPU times, memory, load average
 * and uptime, plus filesystem usage via statfs. Each parser takes the file text so it is tested
 * on fixtures; `procRoot` lets tests point at a fake /proc.
 * @module
 */
import { statfsSync } from "node:fs";

/** Aggregate CPU jiffies from the first line of /proc/stat. */
export interface CpuTimes {
  /** Jiffies spent idle (idle + iowait). */
  idle: number;
  /** All jiffies. */
  total: number;
}

/**
 * Parses the `cpu ` line of /proc/stat.
 * @throws {Error} when the text has no `cpu` line
 */
export function parseCpuTimes(stat: string): CpuTimes {
  const line = stat.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new Error("no aggregate cpu line in /proc/stat");
  // user nice system idle iowait irq softirq steal (guest time is already in user/nice)
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (v.length < 4 || v.some((n) => !Number.isFinite(n))) throw new Error("bad cpu line");
  return { idle: v[3] + (v[4] ?? 0), total: v.reduce((a, b) => a + b, 0) };
}

/** Number of `cpuN` lines in /proc/stat. */
export function parseCpuCount(stat: string): number {
  return stat.split("\n").filter((l) => /^cpu\d+\s/.test(l)).length;
}

/** CPU busy percentage between two samples (0 when no time passed). */
export function cpuUsagePct(prev: CpuTimes, cur: CpuTimes): number {
  const total = cur.total - prev.total;
  if (total <= 0) return 0;
  return clampPct(((total - (cur.idle - prev.idle)) / total) * 100);
}

/** Memory totals in bytes from /proc/meminfo. */
export interface MemoryInfo {
  totalBytes: number;
  usedBytes: number;
}

/**
 * Parses /proc/meminfo; used = MemTotal - MemAvailable (what the kernel says can be reclaimed).
 * @throws {Error} when MemTotal is missing
 */
export function parseMeminfo(text: string): MemoryInfo {
  const kb = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s*kB`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kb("MemTotal");
  if (total === undefined) throw new Error("no MemTotal in /proc/meminfo");
  // Kernels before 3.14 lack MemAvailable: approximate it the way free(1) used to.
  const available = kb("MemAvailable") ??
    (kb("MemFree") ?? 0) + (kb("Buffers") ?? 0) + (kb("Cached") ?? 0);
  return { totalBytes: total, usedBytes: Math.max(0, total - available) };
}

/**
 * Parses /proc/loadavg into the 1, 5 and 15 minute averages.
 * @throws {Error} when the text is not three load averages
 */
export function parseLoadavg(text: string): [number, number, number] {
  const [a, b, c] = text.trim().split(/\s+/).map(Number);
  if (![a, b, c].every(Number.isFinite)) throw new Error("bad /proc/loadavg");
  return [a, b, c];
}

/**
 * Parses /proc/uptime into seconds since boot.
 * @throws {Error} when the text does not start with a number
 */
export function parseUptime(text: string): number {
  const s = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isFinite(s)) throw new Error("bad /proc/uptime");
  return s;
}

/** Filesystem usage in bytes. */
export interface DiskInfo {
  totalBytes: number;
  usedBytes: number;
  /** Used share of what is usable by non-root users, as df(1) reports it. */
  usedPct: number;
}

/** statfs of the filesystem holding `path` (needs --allow-sys and read access to `path`). */
export function diskUsage(path: string): DiskInfo {
  const s = statfsSync(path);
  const total = s.blocks * s.bsize;
  const used = (s.blocks - s.bfree) * s.bsize;
  const avail = s.bavail * s.bsize;
  const usedPct = used + avail > 0 ? clampPct((used / (used + avail)) * 100) : 0;
  return { totalBytes: total, usedBytes: used, usedPct };
}

/** Clamps to 0..100 with two decimals. */
export function clampPct(v: number): number {
  return Math.round(Math.min(100, Math.max(0, v)) * 100) / 100;
}
