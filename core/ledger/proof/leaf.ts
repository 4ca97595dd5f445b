/**
 * What a receipt proves: a ledger entry's shape and the exact bytes it hashes to (RFC 8785
 * canonical JSON of `{index, tx_id, event, actor, payload, ts}`), and the receipt's own shape.
 * @module
 */
import { canonicalize } from "../../encoding/mod.ts";

/** One ledger entry as stored and as hashed. */
export interface LedgerEntry {
  index: number;
  tx_id: string;
  event: string;
  actor: string;
  payload: Record<string, unknown>;
  ts: string;
}

/** A receipt: an inclusion proof of one entry in a signed tree head. All hashes are hex. */
export interface Receipt {
  tree_size: number;
  root_hash: string;
  inclusion_proof: string[];
  /** The C2SP signed-note checkpoint for `tree_size` and `root_hash`. */
  checkpoint: string;
}

/** The canonical JSON text of an entry (only the six hashed fields). */
export function entryText(e: LedgerEntry): string {
  return canonicalize({
    index: e.index,
    tx_id: e.tx_id,
    event: e.event,
    actor: e.actor,
    payload: e.payload,
    ts: e.ts,
  });
}

const enc = new TextEncoder();

/** The leaf bytes of an entry: UTF-8 of its canonical JSON. */
export function entryBytes(e: LedgerEntry): Uint8Array {
  return enc.encode(entryText(e));
}
