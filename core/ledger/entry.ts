/**
 * The ledger's answer shapes (an entry with its receipt, proofs, the log every store serves);
 * the entry and receipt themselves and the bytes an entry hashes to are `core/ledger/proof`'s.
 * @module
 */
import type { AuditAppendResponse } from "./client/mod.ts";
import { entryText, type LedgerEntry, type Receipt } from "./proof/mod.ts";

export type { AuditAppendResponse, LedgerEntry, Receipt };
export { entryText };

/** An entry with its leaf hash and receipt (`GET /tx/{id}`, `GET /entries/{index}`). */
export interface EntryWithReceipt extends LedgerEntry {
  leaf_hash: string;
  receipt: Receipt;
}

/** `GET /proof/inclusion`: a leaf's audit path in a tree head. Hashes are hex. */
export interface InclusionAnswer {
  index: number;
  tree_size: number;
  leaf_hash: string;
  root_hash: string;
  inclusion_proof: string[];
}

/** `GET /proof/consistency`: that tree `second` extends tree `first`. Hashes are hex. */
export interface ConsistencyAnswer {
  first: number;
  second: number;
  first_root: string;
  second_root: string;
  consistency_proof: string[];
}

/** A value or a promise of it. */
type Awaitable<T> = T | Promise<T>;

/** What `/health` says of a ledger's store: `ok`, its engine, and why not when not. */
export interface StoreHealth {
  ok: boolean;
  engine: "sqlite" | "postgres";
  reason?: string;
}

/**
 * What the audit routes serve: the SQLite ledger (synchronous reads) and the PostgreSQL one
 * (asynchronous reads) alike.
 */
export interface AuditLog {
  readonly origin: string;
  readonly vkey: string;
  /** Entries known durable (for health; {@linkcode AuditLog.treeSize} asks the store). */
  readonly size: number;
  /** Whether the store takes appends now, and why not (`/health`'s `store` component). */
  storeHealth(): StoreHealth;
  append(input: {
    tx_id: string;
    event: string;
    actor: string;
    payload: Record<string, unknown>;
  }, opts?: { idempotencyKey?: string }): Promise<AuditAppendResponse>;
  treeSize(): Awaitable<number>;
  entry(index: number): Awaitable<EntryWithReceipt | undefined>;
  entriesForTx(txId: string, limit: number): Awaitable<EntryWithReceipt[]>;
  inclusion(index: number, treeSize?: number): Awaitable<InclusionAnswer>;
  consistency(first: number, second?: number): Awaitable<ConsistencyAnswer>;
  signedCheckpoint(): Promise<{ tree_size: number; root_hash_hex: string; note: string }>;
  close(): Promise<void>;
}
