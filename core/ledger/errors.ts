/** The ledger's error types, shared by the SQLite and PostgreSQL ledgers. @module */

/** The append queue is full: the caller should retry later (HTTP 503). */
export class LedgerBusyError extends Error {
  override name = "LedgerBusyError";
}
/** An idempotency key was reused with a different entry (HTTP 409). */
export class IdempotencyConflictError extends Error {
  override name = "IdempotencyConflictError";
}
/** A proof or entry was asked for outside the tree (HTTP 400/404). */
export class LedgerRangeError extends Error {
  override name = "LedgerRangeError";
}
/** The stored log does not match its own last checkpoint; refusing to extend it. */
export class LedgerCorruptError extends Error {
  override name = "LedgerCorruptError";
}
/** The log is signed by another key than the configured one (a configuration error). */
export class LedgerKeyMismatchError extends LedgerCorruptError {
  /** @param storedVkey the verifier key the log names */
  constructor(readonly storedVkey: string) {
    super(`log is signed by ${storedVkey}; the configured key differs`);
  }
}
/** The log's origin, fixed at its first start, is not the configured one (a configuration error). */
export class LedgerOriginMismatchError extends LedgerCorruptError {
  override name = "LedgerOriginMismatchError";
  /**
   * @param storedOrigin the origin the log was started with
   * @param configured the origin configured now
   */
  constructor(readonly storedOrigin: string, readonly configured: string) {
    super(`log origin is "${storedOrigin}", not "${configured}"`);
  }
}
/**
 * The PostgreSQL user may not do what a replica does to the ledger's tables (a configuration
 * error). Carries PostgreSQL's `insufficient_privilege` code, as the server's own refusal does.
 */
export class LedgerPrivilegeError extends Error {
  override name = "LedgerPrivilegeError";
  /** PostgreSQL's SQLSTATE for a privilege refused. */
  readonly code = "42501";
  /** @param missing what is missing, as `PRIVILEGE on TABLE` */
  constructor(readonly missing: string[]) {
    super(`permission denied: ${missing.join(", ")}`);
  }
}
/** The database file is not a ledger: another program's database (a configuration error). */
export class NotALedgerError extends Error {
  override name = "NotALedgerError";
}
/** The monitor's state file cannot be read as one (a usage error: name another file). */
export class MonitorStateError extends Error {
  override name = "MonitorStateError";
  /**
   * @param path the state file
   * @param why what is wrong with it
   * @param options `cause`: the error behind it
   */
  constructor(readonly path: string, readonly why: string, options?: ErrorOptions) {
    super(`state file ${path} is unreadable: ${why}`, options);
  }
}
