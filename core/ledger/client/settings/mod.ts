/**
 * The client's default bounds and the config fields a service that appends to the audit service sets its
 * request deadline and its stop's wait for queued appends with; apart from the client, so a service's config can name them without
 * loading it (several services load the client only when it is configured).
 * @module
 */
import { duration } from "../../../config/mod.ts";

/** `audit_timeout` (or a section's `timeout`): the deadline of one append to the audit service. */
export function auditTimeoutField(opts: { flag?: string } = {}) {
  return duration({
    ...opts,
    help: "deadline of one append to the audit service (a stop waits at most this long for " +
      "one in flight)",
    default: DEFAULT_AUDIT_REQUEST_TIMEOUT_MS,
    min: MIN_AUDIT_REQUEST_TIMEOUT_MS,
  });
}

/**
 * `audit_flush_timeout` (or a section's `flush_timeout`): how long a stop waits for the appends
 * queued for the audit service.
 */
export function auditFlushField(opts: { flag?: string } = {}) {
  return duration({
    ...opts,
    help: "how long a stop waits for the appends queued for the audit service (those left are " +
      "dropped, logged with their count)",
    default: DEFAULT_AUDIT_FLUSH_TIMEOUT_MS,
    min: 0,
  });
}

/** Default deadline of one append to the audit service. */
export const DEFAULT_AUDIT_REQUEST_TIMEOUT_MS = 10_000;

/** Smallest append deadline a config may set. */
export const MIN_AUDIT_REQUEST_TIMEOUT_MS = 100;

/** Default wait of a stop for the appends queued for the audit service. */
export const DEFAULT_AUDIT_FLUSH_TIMEOUT_MS = 10_000;
