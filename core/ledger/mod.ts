/**
 * The audit ledger: an RFC 6962 Merkle log of canonical JSON entries with group commit, in
 * SQLite (one process) or PostgreSQL (any number of replicas on one sequence), C2SP signed
 * checkpoints, inclusion and consistency proofs, receipts, an offline verifier for either
 * store, a live-log monitor, and the HTTP client services append with. A verifier that needs only
 * the proofs imports `core/ledger/proof`, which loads none of the rest.
 *
 * @example
 * ```ts
 * const ledger = await Ledger.open(new LedgerStore("audit.db"), { key, origin: "iatp-audit" });
 * const { receipt } = await ledger.append({ tx_id: "t1", type: "decision", payload: {} });
 * ```
 * @module
 */
export { AuditClient, AuditClientError, type AuditEntryInput } from "./client/mod.ts";
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
export { auditHealth } from "./health.ts";
export { loadSigningKey } from "./keys.ts";
export { DEFAULT_MAX_BATCH, DEFAULT_MAX_PENDING, Ledger, type LedgerOptions } from "./ledger.ts";
export { DEFAULT_COMMIT_TIMEOUT_MS, DEFAULT_HEALTH_PROBE_MS } from "./pg_defaults.ts";
export type { PgLedger, PgLedgerOptions } from "./pg_ledger.ts";
export type { MonitorOptions, MonitorReport } from "./monitor.ts";
// Loaded with their first call: the PostgreSQL ledger, the verifiers and the monitor.
export { checkLiveLog, openPgLedger, verifyLedgerFile, verifyLedgerPostgres } from "./on_demand.ts";
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
export { registerAuditRoutes } from "./routes.ts";
export { type CheckpointRow, type CommitBatch, type EntryRow, LedgerStore } from "./store.ts";
export type { VerifyReport } from "./verify.ts";
