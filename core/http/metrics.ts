/**
 * Prometheus metrics for an HTTP service, one registry per service (core/metrics) so that
 * several services in one process (`iatp up`) expose their own numbers.
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "../metrics/mod.ts";

/** Latency buckets in seconds, from 250 us to 10 s. */
const LATENCY_BUCKETS = [
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
  /**
   * The request counter and latency histogram series for one method, route and status, cached:
   * the same as `requests.inc(labels)` and `duration.observe(labels, s)` without building
   * labels per request.
   */
  forRoute(method: string, route: string, status: number): RouteMetrics;
  /** Connection-level numbers of the HTTP/1.1 edge. */
  connections: ConnectionMetrics;
}

/** Connection-level metrics. */
export interface ConnectionMetrics {
  /** Connections answered 503 because `max_connections` were open. */
  refused: Counter;
  /** Idle connections closed to admit a new one at `max_connections`. */
  shed: Counter;
  /** Requests refused by the protocol layer (malformed, too large, timed out), by status. */
  protocolErrors: Counter<"status">;
  /** Deadlines that passed, by phase (head, body, idle, write). */
  timeouts: Counter<"phase">;
  /** Recoverable accept() failures, by errno code (EMFILE, ...). */
  acceptErrors: Counter<"code">;
  /** Sets where the open-connections gauge reads its value. */
  setOpen(read: () => number): void;
}

/** Bound series of one method, route and status. */
export interface RouteMetrics {
  requests: { inc(): void };
  duration: { observe(seconds: number): void };
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
  const connections = createConnectionMetrics(registry);
  const cache = new Map<string, Map<string, Map<number, RouteMetrics>>>();
  const forRoute = (method: string, route: string, status: number): RouteMetrics => {
    let byMethod = cache.get(route);
    if (!byMethod) cache.set(route, byMethod = new Map());
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, byStatus = new Map());
    let m = byStatus.get(status);
    if (!m) {
      const labels = { method, route, status: String(status) };
      m = { requests: requests.labels(labels), duration: duration.labels(labels) };
      byStatus.set(status, m);
    }
    return m;
  };
  return { registry, requests, duration, inFlight, forRoute, connections };
}

function createConnectionMetrics(registry: Registry): ConnectionMetrics {
  let readOpen = () => 0;
  new Gauge({
    name: "iatp_http_connections_open",
    help: "HTTP connections open.",
    registers: [registry],
    collect() {
      this.set(readOpen());
    },
  });
  return {
    refused: new Counter({
      name: "iatp_http_connections_refused_total",
      help: "Connections answered 503 because max_connections were open.",
      registers: [registry],
    }),
    shed: new Counter({
      name: "iatp_http_connections_shed_total",
      help: "Idle connections closed to admit a new one at max_connections.",
      registers: [registry],
    }),
    protocolErrors: new Counter({
      name: "iatp_http_protocol_errors_total",
      help: "Requests refused by the HTTP/1.1 layer (malformed, too large, timed out), by status.",
      labelNames: ["status"] as const,
      registers: [registry],
    }),
    timeouts: new Counter({
      name: "iatp_http_timeouts_total",
      help: "Connection deadlines that passed, by phase (head, body, idle, write).",
      labelNames: ["phase"] as const,
      registers: [registry],
    }),
    acceptErrors: new Counter({
      name: "iatp_http_accept_errors_total",
      help: "Recoverable accept() failures (EMFILE, ENFILE, ...), by code.",
      labelNames: ["code"] as const,
      registers: [registry],
    }),
    setOpen: (read) => readOpen = read,
  };
}

/** Methods labelled as themselves; any other is `other`, so clients cannot add series. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * Records one finished request.
 * @param start `performance.now()` when it began
 * @param end `performance.now()` when it ended, when the caller already read it (else read here)
 * @example
 * ```ts
 * observeRequest(metrics, "GET", "/items/:id", 200, performance.now());
 * ```
 */
export function observeRequest(
  metrics: HttpMetrics,
  method: string,
  route: string,
  status: number,
  start: number,
  end: number = performance.now(),
): void {
  const m = metrics.forRoute(KNOWN_METHODS.has(method) ? method : "other", route, status);
  m.requests.inc();
  m.duration.observe((end - start) / 1000);
}
