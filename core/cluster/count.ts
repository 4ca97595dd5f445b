/**
 * The `workers` setting of a service that can serve from several isolates, and its default:
 * the number of cores.
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
 * One `/metrics` text for the whole service: every isolate's exposition added up, plus
 * `iatp_worker_http_requests_total{worker}` saying how many requests each isolate served (the
 * main isolate is worker 0).
 */
export function totalMetrics(service: string, parts: string[]): string {
  const name = "iatp_worker_http_requests_total";
  const lines = [
    `# HELP ${name} HTTP requests served by each isolate of the service (--workers).`,
    `# TYPE ${name} counter`,
    ...parts.map((text, i) =>
      `${name}{service="${service}",worker="${i}"} ${sumOfMetric(text, "iatp_http_requests_total")}`
    ),
  ];
  return mergeExpositions(parts) + lines.join("\n") + "\n";
}
