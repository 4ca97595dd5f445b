/**
 * The ledger's proofs apart from the ledger, so that a verifier (the dashboard, a client holding
 * a receipt) loads neither its stores nor its routes: RFC 6962 leaf and node hashes, the Merkle
 * tree's roots and inclusion and consistency proofs, C2SP signed notes and checkpoints, and
 * receipt verification.
 *
 * @example
 * ```ts
 * const verifier = parseVkey(vkeyText);
 * const { ok, reason } = await verifyReceipt(entry, receipt, { publicKey });
 * ```
 * @module
 */
export {
  bytesEqual,
  EMPTY_ROOT,
  leafHash,
  leafHashOfText,
  nodeHash,
  parseHash,
  sha256,
} from "./hash.ts";
export { entryBytes, entryText, type LedgerEntry, type Receipt } from "./leaf.ts";
export {
  consistencyProof,
  Frontier,
  inclusionProof,
  type NewNode,
  type NodeReader,
  RangeMemo,
  rootAt,
  rootFromInclusion,
  verifyConsistency,
} from "./merkle.ts";
export {
  type Checkpoint,
  checkpointMismatch,
  formatCheckpoint,
  formatVkey,
  keyId,
  type NoteSigner,
  type NoteVerifier,
  openCheckpoint,
  type ParsedNote,
  parseVkey,
  type SignedCheckpoint,
  signEmptyCheckpoint,
  signNote,
} from "./note.ts";
export { verifyReceipt } from "./receipt.ts";
