/**
 * The bounds of the HTTP edge, their defaults, and how a service config (the fields every
 * service shares, core/config/common.ts) maps onto them.
 * @module
 */

/** Default request body limit (1 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Default drain deadline on shutdown. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/** Default time to receive a whole request head. */
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
/** Default time to receive a whole request body (about 35 KB/s for a 1 MiB body). */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;
/** Default time a keep-alive connection may wait for its next request, or a write stall. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** Default cap on open connections (about 10 KB each when idle). */
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** Default largest request head (request line and fields). */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** Default longest request-target. */
export const DEFAULT_MAX_URL_BYTES = 8 * 1024;
/** Default most header fields in a request. */
export const DEFAULT_MAX_HEADER_FIELDS = 100;

/** The edge bounds a server takes; each has the default above. Timeouts of 0 are off. */
export interface EdgeOptions {
  maxBodyBytes?: number;
  drainTimeoutMs?: number;
  headerTimeoutMs?: number;
  bodyTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** 0: no cap. */
  maxConnections?: number;
  maxHeaderBytes?: number;
  maxUrlBytes?: number;
  maxHeaderFields?: number;
  /** PEM certificate file: with `tlsKeyFile`, the service speaks HTTPS. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Quiet period after which the heap is given back (reclaim.ts); 0 off, default 30 s. */
  idleReclaimMs?: number;
}

/** The shared service config fields the edge reads (see core/config/common.ts). */
export interface EdgeConfig {
  max_body_bytes: number;
  drain_timeout: number;
  header_timeout: number;
  body_timeout: number;
  idle_timeout: number;
  max_connections: number;
  max_header_bytes: number;
  max_url_bytes: number;
  max_header_fields: number;
  tls_cert_file?: string;
  tls_key_file?: string;
  idle_reclaim: number;
}

/**
 * The edge options of a service config.
 * @example
 * ```ts
 * createServer({ service: "audit", host, port, log, ...edgeOptions(config) });
 * ```
 */
export function edgeOptions(config: EdgeConfig): EdgeOptions {
  return {
    maxBodyBytes: config.max_body_bytes,
    drainTimeoutMs: config.drain_timeout,
    headerTimeoutMs: config.header_timeout,
    bodyTimeoutMs: config.body_timeout,
    idleTimeoutMs: config.idle_timeout,
    maxConnections: config.max_connections,
    maxHeaderBytes: config.max_header_bytes,
    maxUrlBytes: config.max_url_bytes,
    maxHeaderFields: config.max_header_fields,
    tlsCertFile: config.tls_cert_file || undefined,
    tlsKeyFile: config.tls_key_file || undefined,
    idleReclaimMs: config.idle_reclaim,
  };
}
