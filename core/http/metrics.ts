/**
 * Prometheus metrics for an HTTP service, one registry per service (core/metrics) so that
 * several services in one process (`iatp up`) expose their own numbers.
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "../metrics/mod.ts";

/** Latency buckets in seconds, from 250 us to 10 s. */
export const LATENCY_BUCKETS = [
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** The HTTP metrics every service has. */
export interface HttpMetrics {
  registry: Registry;
  requests: Counter<"method" | "route" | "status">;
  duration: Histogram<"method" | "route" | "status">;
  inFlight: Gauge;
}

/** Creates a registry with request counters, latency histograms, in-flight and RSS gauges. */
export function createHttpMetrics(service: string): HttpMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  const requests = new Counter({
    name: "iatp_http_requests_total",
    help: "HTTP requests by method, route pattern and status.",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "iatp_http_request_duration_seconds",
    help: "HTTP request latency by method, route pattern and status.",
    labelNames: ["method", "route", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: "iatp_http_requests_in_flight",
    help: "HTTP requests being served.",
    registers: [registry],
  });
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers: [registry],
    collect() {
      this.set(Deno.memoryUsage().rss);
    },
  });
  return { registry, requests, duration, inFlight };
}
