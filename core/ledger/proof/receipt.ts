/**
 * Independent receipt verification: recompute the leaf from the entry, walk the inclusion
 * proof to a root, and check it against the signed checkpoint; with a key, also that the checkpoint
 * is signed by that key under its name and is of the log that name names (its origin line). Used
 * by the dashboard, `iatp audit verify --receipt` and any client holding a receipt.
 * @module
 */
import { CanonicalJsonError } from "../../encoding/mod.ts";
import { entryBytes, type LedgerEntry, type Receipt } from "./leaf.ts";
import { bytesEqual, leafHash, parseHash } from "./hash.ts";
import { rootFromInclusion } from "./merkle.ts";
import { noteSignedBy, type NoteVerifier, openCheckpoint } from "./note.ts";

/** Longest inclusion proof accepted (a tree of 2^64 leaves needs 64). */
const MAX_PROOF_LENGTH = 64;

/**
 * Verifies a receipt for an entry. Never throws: malformed input is `{ok: false, reason}`.
 * `key` (a parsed vkey) is the log's signer: the checkpoint must carry its signature and name
 * it as origin. Without `key` only the proof's consistency is checked, not who signed it: anyone
 * can make such a receipt, so `ok` then says nothing about the log.
 *
 * @example
 * ```ts
 * const { ok, reason } = await verifyReceipt(entry, receipt, { key: parseVkey(vkey) });
 * ```
 */
export async function verifyReceipt(
  entry: LedgerEntry,
  receipt: Receipt,
  opts: { key?: NoteVerifier } = {},
): Promise<{ ok: boolean; reason?: string }> {
  try {
    return await check(entry, receipt, opts.key);
  } catch (err) {
    const why = err instanceof CanonicalJsonError ? err.message : "malformed entry or receipt";
    return { ok: false, reason: why };
  }
}

async function check(
  entry: LedgerEntry,
  receipt: Receipt,
  key?: NoteVerifier,
): Promise<{ ok: boolean; reason?: string }> {
  if (!receipt || typeof receipt !== "object") return { ok: false, reason: "no receipt" };
  const proof = Array.isArray(receipt.inclusion_proof) ? receipt.inclusion_proof : undefined;
  if (!proof || proof.length > MAX_PROOF_LENGTH) {
    return { ok: false, reason: "inclusion_proof is not a list of hashes" };
  }
  const path: Uint8Array[] = [];
  for (const p of proof) {
    const b = parseHash(p);
    if (!b || b.length !== 32) return { ok: false, reason: "inclusion_proof holds a non-hash" };
    path.push(b);
  }
  const claimedRoot = parseHash(receipt.root_hash);
  if (!claimedRoot || claimedRoot.length !== 32) return { ok: false, reason: "bad root_hash" };
  const leaf = leafHash(entryBytes(entry));
  const root = rootFromInclusion(entry.index, receipt.tree_size, leaf, path);
  if (!root) return { ok: false, reason: "inclusion proof has the wrong shape for the tree size" };
  if (!bytesEqual(root, claimedRoot)) {
    return { ok: false, reason: "inclusion proof does not lead to root_hash" };
  }
  const opened = await openCheckpoint(receipt.checkpoint);
  if ("reason" in opened) return { ok: false, reason: opened.reason };
  const cp = opened.checkpoint;
  if (cp.treeSize !== receipt.tree_size || !bytesEqual(cp.rootHash, claimedRoot)) {
    return { ok: false, reason: "checkpoint does not match tree_size and root_hash" };
  }
  if (key) {
    if (!(await noteSignedBy(opened.note, key))) {
      return { ok: false, reason: "checkpoint signature does not verify with the given key" };
    }
    // Signed by this key under its name, for this log: the origin line is the key's name.
    if (cp.origin !== key.name) {
      return { ok: false, reason: `checkpoint is of another log than ${key.name}` };
    }
  }
  return { ok: true };
}
