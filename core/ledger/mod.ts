/**
 * The audit ledger: an RFC 6962 Merkle log of canonical JSON entries with group commit, in
 * SQLite (one process) or PostgreSQL (any number of replicas on one sequence), C2SP signed
 * checkpoints, inclusion and consistency proofs, receipts, an offline verifier for either
 * store and a live-log monitor. A verifier that needs only the proofs imports
 * `core/ledger/proof`, which loads none of the rest; a service that appends imports the HTTP
 * client from `core/ledger/client`, which the ledger itself never loads.
 *
 * @example
 * ```ts
 * const ledger = await Ledger.open(new LedgerStore("audit.db"), { key, origin: "iatp-audit" });
 * const { receipt } = await ledger.append({ tx_id: "t1", type: "decision", payload: {} });
 * ```
 * @module
 */
export {
  type AuditAppendResponse,
  type AuditLog,
  type ConsistencyAnswer,
  entryText,
  type EntryWithReceipt,
  type InclusionAnswer,
  type LedgerEntry,
  type Receipt,
  type StoreHealth,
} from "./entry.ts";
export { auditHealth, registerLedgerMetrics } from "./health.ts";
export {
  LedgerKeyMismatchError,
  LedgerOriginMismatchError,
  MonitorStateError,
  NotALedgerError,
} from "./errors.ts";
export { LedgerKey, loadSigningKey } from "./keys.ts";
export { DEFAULT_MAX_BATCH, DEFAULT_MAX_PENDING, Ledger, type LedgerOptions } from "./ledger.ts";
export { DEFAULT_COMMIT_TIMEOUT_MS, DEFAULT_HEALTH_PROBE_MS } from "./pg_defaults.ts";
export type { PgLedger, PgLedgerOptions } from "./pg_ledger.ts";
export type { MonitorOptions, MonitorReport } from "./monitor.ts";
// Loaded with their first call: the PostgreSQL ledger, the verifiers, the monitor and the routes.
export {
  checkLiveLog,
  openPgLedger,
  registerAuditRoutes,
  verifyLedgerFile,
  verifyLedgerPostgres,
} from "./on_demand.ts";
export {
  bytesEqual,
  type Checkpoint,
  formatCheckpoint,
  formatVkey,
  Frontier,
  leafHash,
  type NewNode,
  type NoteSigner,
  type NoteVerifier,
  openCheckpoint,
  type ParsedNote,
  parseHash,
  parseVkey,
  signNote,
  verifyConsistency,
  verifyReceipt,
} from "./proof/mod.ts";
export type { AuditRoutesOptions } from "./routes.ts";
export { type CheckpointRow, type CommitBatch, type EntryRow, LedgerStore } from "./store.ts";
export type { VerifyReport } from "./verify.ts";
