/**
 * Flight-recorder record shape and the trace id rule shared by the ring, the durable store and
 * the HTTP routes.
 * @module
 */

/** Record types (Go and Python sidecars). */
export const RECORD_TYPES = [
  "request",
  "blocked",
  "warning",
  "quarantine",
  "response",
  "error",
] as const;
/** A record type. */
export type RecordType = typeof RECORD_TYPES[number];

/** One flight-recorder record. `details` is always scrubbed before it is stored. */
export interface TraceRecord {
  type: RecordType;
  trace_id: string;
  /** RFC 3339 UTC with milliseconds. */
  timestamp: string;
  details: Record<string, unknown>;
}

/** A trace id is kept only when it matches this (it becomes a file name or SQL key nowhere unsafely). */
const TRACE_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** True for an acceptable trace id (`.` and `..` alone are rejected too). */
export function isValidTraceId(id: string | null | undefined): id is string {
  return typeof id === "string" && TRACE_ID_PATTERN.test(id) && id !== "." && id !== "..";
}
