/**
 * Fields every HTTP service shares: bind address, port, log level, and the HTTP edge's bounds
 * (body limit, timeouts, connection cap, head limits, TLS, drain deadline) and the idle heap
 * reclaim.
 * @module
 */
import {
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HEADER_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADER_FIELDS,
  DEFAULT_MAX_URL_BYTES,
} from "./limits.ts";
import { DEFAULT_IDLE_RECLAIM_MS, MAX_IDLE_RECLAIM_MS, MIN_IDLE_RECLAIM_MS } from "./reclaim.ts";
import { bytes, duration, host, int, oneOf, path, port } from "../config/mod.ts";
import { LEVELS } from "../log/mod.ts";

/** Per-service defaults that differ from the shared ones. */
export interface EdgeDefaults {
  /** Default `max_connections` (a relay holds one per subscriber). */
  maxConnections?: number;
}

/**
 * The HTTP edge's fields (read by `edgeOptions` in core/http): what a client may send and for
 * how long, how many connections, TLS, and the drain deadline.
 */
export function edgeFields(defaults: EdgeDefaults = {}) {
  return {
    max_body_bytes: bytes({
      help: "largest request body accepted (413 above)",
      default: DEFAULT_MAX_BODY_BYTES,
      min: 1,
    }),
    header_timeout: duration({
      help: "time to receive a whole request head (408 and close after; 0s turns it off)",
      default: DEFAULT_HEADER_TIMEOUT_MS,
    }),
    body_timeout: duration({
      help: "time to receive a whole request body (408 and close after; 0s turns it off)",
      default: DEFAULT_BODY_TIMEOUT_MS,
    }),
    idle_timeout: duration({
      help: "time a keep-alive connection waits for its next request, or a response write " +
        "may stall, before it is closed (0s turns it off)",
      default: DEFAULT_IDLE_TIMEOUT_MS,
    }),
    max_connections: int({
      help: "connections open at once; past it a new one takes an idle one's place, else is " +
        "answered 503 (0: no cap)",
      default: defaults.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      min: 0,
    }),
    max_header_bytes: bytes({
      help: "largest request head, request line and header fields (431 above)",
      default: DEFAULT_MAX_HEADER_BYTES,
      min: 1024,
      max: 1024 * 1024,
    }),
    max_url_bytes: bytes({
      help: "longest request-target (414 above)",
      default: DEFAULT_MAX_URL_BYTES,
      min: 256,
      max: 1024 * 1024,
    }),
    max_header_fields: int({
      help: "most header fields in a request (431 above)",
      default: DEFAULT_MAX_HEADER_FIELDS,
      min: 8,
      max: 10_000,
    }),
    tls_cert_file: path({
      help: "PEM certificate: serve HTTPS (with tls_key_file)",
      access: "read",
    }),
    tls_key_file: path({ help: "PEM private key of tls_cert_file", access: "read" }),
    drain_timeout: duration({
      help: "how long shutdown waits for in-flight requests",
      default: DEFAULT_DRAIN_TIMEOUT_MS,
    }),
    idle_reclaim: duration({
      help: "after requests, a quiet spell this long gives the heap back: one memory-reducing " +
        "GC, as one does once the service listens (needs --v8-flags=--expose-gc; 0s: both off, " +
        "else at least 1s)",
      default: DEFAULT_IDLE_RECLAIM_MS,
      min: MIN_IDLE_RECLAIM_MS,
      offOrMin: true,
      max: MAX_IDLE_RECLAIM_MS,
    }),
  };
}

/** The shared service fields, with the service's default port. */
export function serviceFields(defaultPort: number, defaults: EdgeDefaults = {}) {
  return {
    host: host({ help: "address to listen on", default: "127.0.0.1" }),
    port: port({ help: "TCP port to listen on (0 picks a free one)", default: defaultPort }),
    ...edgeFields(defaults),
    log_level: oneOf(LEVELS, { help: "lowest log level written", default: "info" }),
  };
}
