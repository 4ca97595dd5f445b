/**
 * The `workers` setting of a service that can serve from several isolates, and its default:
 * the number of cores, or a fixed count where more isolates cost that service more than they
 * give (the relay).
 * @module
 */
import { int } from "../config/mod.ts";
import { mergeExpositions, sumOfMetric } from "../metrics/mod.ts";

/** Most isolates one service runs. */
export const MAX_WORKERS = 64;

/**
 * The `workers` field (flag `--workers`, env `IATP_<COMMAND>_WORKERS`), 1..{@linkcode MAX_WORKERS};
 * unset means the number of cores.
 */
export function workersField(what: string) {
  return int({
    help:
      `isolates serving ${what} on one port (SO_REUSEPORT), 1 for one; default: the number of cores`,
    min: 1,
    max: MAX_WORKERS,
  });
}

/**
 * A `workers` field whose default is `count` isolates, not the cores: for a service whose
 * isolates hand work to each other (`why` says what a reader of its help should know).
 */
export function workersFieldFixed(what: string, count: number, why: string) {
  return int({
    help: `isolates serving ${what} on one port (SO_REUSEPORT); ${why}`,
    default: count,
    min: 1,
    max: MAX_WORKERS,
  });
}

/**
 * The isolates to run: the setting, else the cores (`navigator.hardwareConcurrency`) within
 * 1..{@linkcode MAX_WORKERS}.
 * @example
 * ```ts
 * workerCount(undefined); // 2 on a two-core machine
 * ```
 */
export function workerCount(setting: number | undefined): number {
  return setting ?? Math.min(MAX_WORKERS, Math.max(1, navigator.hardwareConcurrency || 1));
}

/**
 * A counter every isolate of the process reads and updates (`Atomics` on a SharedArrayBuffer),
 * e.g. the open connections `max_connections` caps together.
 * @example
 * ```ts
 * const open = sharedCounter();
 * Atomics.add(open, 0, 1);
 * ```
 */
export function sharedCounter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}

/** A per-isolate series `/metrics` adds: `name{worker}` is the sum of `from` in that isolate. */
export interface PerWorkerSeries {
  name: string;
  help: string;
  from: string;
}

/** Requests each isolate served: in every service's totals. */
const REQUESTS: PerWorkerSeries = {
  name: "iatp_worker_http_requests_total",
  help: "HTTP requests served by each isolate of the service (--workers).",
  from: "iatp_http_requests_total",
};

/**
 * One `/metrics` text for the whole service: every isolate's exposition added up, plus
 * `iatp_worker_http_requests_total{worker}` (and any `perWorker` series) saying what each isolate
 * did (the main isolate is worker 0).
 */
export function totalMetrics(
  service: string,
  parts: string[],
  perWorker: PerWorkerSeries[] = [],
): string {
  const lines: string[] = [];
  for (const s of [REQUESTS, ...perWorker]) {
    const type = s.name.endsWith("_total") ? "counter" : "gauge";
    lines.push(`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} ${type}`);
    parts.forEach((text, i) => {
      lines.push(`${s.name}{service="${service}",worker="${i}"} ${sumOfMetric(text, s.from)}`);
    });
  }
  return mergeExpositions(parts) + lines.join("\n") + "\n";
}
