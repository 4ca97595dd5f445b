/**
 * The PostgreSQL ledger's defaults, which the audit command's settings name at start; the ledger
 * itself loads with a `postgres://` db ({@linkcode openPgLedger}).
 * @module
 */

/** Default longest wait for one group commit before its appends get 503. */
export const DEFAULT_COMMIT_TIMEOUT_MS = 10_000;

/** Default interval of an idle replica's reachability probe. */
export const DEFAULT_HEALTH_PROBE_MS = 5_000;
