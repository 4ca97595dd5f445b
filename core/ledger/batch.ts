/**
 * Group commit, shared by every ledger storage: the bounded append queue and its write loop,
 * idempotency-key de-duplication within a batch, sealing a batch (entries, completed tree nodes,
 * the signed checkpoint) onto a frontier, and the receipts a batch answers with.
 * @module
 */
import type { Ed25519KeyPair } from "../crypto/mod.ts";
import { canonicalize, encodeHex } from "../encoding/mod.ts";
import { HttpError, UnavailableError } from "../errors/mod.ts";
import { LogEvery, type Logger } from "../log/mod.ts";
import type { AuditEntryInput } from "./client/mod.ts";
import type { AuditAppendResponse, LedgerEntry, Receipt } from "./entry.ts";
import { entryText } from "./entry.ts";
import { IdempotencyConflictError, LedgerBusyError, LedgerCorruptError } from "./errors.ts";
import { leafHashOfText } from "./proof/mod.ts";
import * as merkle from "./proof/mod.ts";
import { formatCheckpoint, signNote } from "./proof/mod.ts";
import type { CheckpointRow, CommitBatch, EntryRow } from "./store.ts";

/** One append waiting for a commit. */
/**
 * A stored row's bytes beside its entry text and tx_id: its index and timestamp in the text, the
 * other columns (leaf hash in hex, index, receipt size) and the message's framing.
 */
const ROW_EXTRA_BYTES = 512;
const utf8 = new TextEncoder();

export interface Pending {
  input: AuditEntryInput;
  key: string | null;
  resolve: (r: AuditAppendResponse) => void;
  reject: (e: unknown) => void;
}

/** Called after each durable append (e.g. publish `audit.appended`); must not throw. */
export type OnAppended = (
  e: { tx_id: string; index: number; event: string; leaf_hash: string },
) => void;

/** The bounded queue of appends and the loop that hands them to `commit` in batches. */
export class CommitQueue {
  #pending: Pending[] = [];
  #writer: Promise<void> | undefined;
  #writing = false;
  #closed = false;
  #failure: string | undefined;
  /** Batches failed by a store that cannot write (out of reach, full): logged once a minute. */
  readonly #storeFailures = new LogEvery();

  /**
   * @param commit writes one batch and settles every item of it (or throws: all are rejected)
   */
  constructor(
    readonly opts: {
      maxBatch: number;
      maxPending: number;
      /**
       * Longest row the store can give back (PostgreSQL's `db_max_message`): an entry whose row
       * would be longer is refused (413) rather than written and then unreadable. None: any.
       */
      maxRowBytes?: number;
      log: Logger;
      commit: (batch: Pending[]) => Promise<void>;
    },
  ) {}

  /** Appends waiting for a commit. */
  get length(): number {
    return this.#pending.length;
  }

  /** Why the store could not write the last commit (a full or read-only disk), until one is. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /**
   * Queues an append; resolves once it is durable.
   * @throws {LedgerBusyError} (rejects) when closing or `maxPending` appends are queued.
   * @throws {CanonicalJsonError} when the entry has no canonical JSON form.
   * @throws {HttpError} (413) when its stored row would be longer than `maxRowBytes`.
   */
  push(input: AuditEntryInput, key: string | null): Promise<AuditAppendResponse> {
    if (this.#closed) return Promise.reject(new LedgerBusyError("ledger is closing"));
    if (this.#pending.length >= this.opts.maxPending) {
      return Promise.reject(new LedgerBusyError(`${this.opts.maxPending} appends already queued`));
    }
    // Reject what has no canonical form now, so a bad entry never fails a whole batch.
    const text = canonicalize({ ...input, index: 0, ts: "" });
    const max = this.opts.maxRowBytes;
    const keyBytes = key === null ? 0 : key.length; // printable ASCII
    // Measured only when it could matter: a UTF-16 unit is at most three bytes. The stored text
    // can be several times the body sent (1e20 is written in 21 digits).
    if (
      max !== undefined && (text.length + input.tx_id.length) * 3 + keyBytes + ROW_EXTRA_BYTES > max
    ) {
      const row = utf8.encode(text).length + utf8.encode(input.tx_id).length + keyBytes +
        ROW_EXTRA_BYTES;
      if (row > max) {
        throw new HttpError(
          413,
          `the entry as stored (${row} bytes with its row) is longer than the database gives ` +
            `back (db_max_message, ${max} bytes)`,
        );
      }
    }
    const { promise, resolve, reject } = Promise.withResolvers<AuditAppendResponse>();
    // Cleared as the answer is given, so a caller that got one never sees the old failure.
    const answer = (r: AuditAppendResponse) => {
      this.#failure = undefined;
      resolve(r);
    };
    this.#pending.push({ input, key, resolve: answer, reject });
    if (!this.#writing) {
      this.#writing = true;
      this.#writer = this.#writeLoop();
    }
    return promise;
  }

  async #writeLoop(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        // One event-loop turn lets requests that arrived during the last fsync join this batch.
        // setImmediate, not setTimeout(0): Deno clamps a chained zero timeout to ~2 ms, which
        // was most of each commit cycle. The global, read on first use: Deno's Node timers load
        // with the first append, not at start.
        await new Promise((r) => setImmediate(r));
        const batch = this.#pending.splice(0, this.opts.maxBatch);
        try {
          await this.opts.commit(batch);
        } catch (err) {
          const answer = storeFailure(err);
          // A store out of reach or unable to write fails every batch alike (one a request
          // while clients retry): one line a minute, with the count of failed batches.
          const alike = answer instanceof UnavailableError || answer instanceof LedgerBusyError;
          const count = alike ? this.#storeFailures.due() : 1;
          if (count !== undefined) {
            this.opts.log.error("ledger commit failed", {
              err: String(err),
              entries: batch.length,
              ...(alike ? { count } : {}),
            });
          }
          // An outage is the engine gate's to report; a refused entry (409) or a corrupt log
          // says nothing of whether the store can write.
          if (answer instanceof LedgerBusyError) this.#failure = answer.message;
          for (const p of batch) p.reject(answer);
        }
      }
    } finally {
      // Cleared in the same tick the loop sees an empty queue, so no append is ever stranded.
      this.#writing = false;
    }
  }

  /** Stops accepting appends and waits for queued ones to commit. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#writing) await this.#writer;
  }
}

/**
 * What the callers of a failed commit get: an HTTP error stays as it is (a PostgreSQL outage is
 * already a 503); anything else is the store failing to write (a full or read-only disk), a
 * {@linkcode LedgerBusyError} (503, retry later) carrying the store's reason, which names no path.
 */
function storeFailure(err: unknown): unknown {
  if (
    err instanceof HttpError || err instanceof LedgerCorruptError ||
    err instanceof IdempotencyConflictError
  ) return err;
  const reason = err instanceof Error ? err.message.split("\n")[0].slice(0, 200) : String(err);
  return new LedgerBusyError(`ledger cannot write: ${reason}`, { cause: err });
}

/**
 * Splits a batch by idempotency key: items already stored under their key (`prior`) come back
 * as `existing` (a different entry under a used key is rejected with a conflict here); later
 * duplicates within the batch follow the first one's outcome; the rest are `fresh`.
 */
export function dedupe(
  batch: Pending[],
  prior: (key: string) => EntryRow | undefined,
): { fresh: Pending[]; existing: Array<[Pending, EntryRow]> } {
  const fresh: Pending[] = [];
  const existing: Array<[Pending, EntryRow]> = [];
  const inBatch = new Map<string, Pending[]>();
  for (const p of batch) {
    if (p.key === null) {
      fresh.push(p);
      continue;
    }
    const row = prior(p.key);
    const followers = inBatch.get(p.key);
    if (row) {
      if (sameEntry(p.input, JSON.parse(row.body) as LedgerEntry)) existing.push([p, row]);
      else p.reject(conflict(p.key));
    } else if (followers) {
      followers.push(p);
    } else {
      const mine: Pending[] = [];
      inBatch.set(p.key, mine);
      fresh.push(p);
      // Later duplicates in the same batch get the first one's receipt.
      const { resolve, reject, input, key } = p;
      p.resolve = (r) => {
        resolve(r);
        for (const f of mine) sameEntry(f.input, input) ? f.resolve(r) : f.reject(conflict(key));
      };
      p.reject = (e) => {
        reject(e);
        for (const f of mine) f.reject(e);
      };
    }
  }
  return { fresh, existing };
}

/** A batch sealed onto a frontier: what to store, and the nodes its receipts read. */
export interface SealedBatch extends CommitBatch {
  /** The frontier after the batch (commit it only once the batch is stored). */
  frontier: merkle.Frontier;
  /** The perfect subtrees of the tree before the batch: every older node a receipt needs. */
  edge: merkle.NewNode[];
}

/**
 * Numbers the items from `frontier.size`, hashes them onto a copy of the frontier and signs the
 * checkpoint of the new tree head.
 */
export async function sealBatch(
  frontier: merkle.Frontier,
  items: Pending[],
  signer: { origin: string; key: Ed25519KeyPair },
): Promise<SealedBatch> {
  const edge = frontier.edge();
  const next = frontier.clone();
  const ts = new Date().toISOString();
  const entries: EntryRow[] = [];
  const nodes: merkle.NewNode[] = [];
  const newSize = next.size + items.length;
  for (const p of items) {
    const index = next.size;
    const body = entryText({ index, ts, ...p.input });
    const leaf = leafHashOfText(body);
    nodes.push(...next.append(leaf));
    entries.push({
      index,
      tx_id: p.input.tx_id,
      body,
      leaf_hash: leaf,
      receipt_size: newSize,
      idem_key: p.key,
    });
  }
  const root = next.root();
  const note = await signNote(
    formatCheckpoint({ origin: signer.origin, treeSize: newSize, rootHash: root }),
    { name: signer.origin, privateKey: signer.key.privateKey, publicRaw: signer.key.publicRaw },
  );
  return {
    entries,
    nodes,
    checkpoint: { tree_size: newSize, root_hash: root, note },
    frontier: next,
    edge,
  };
}

/**
 * Resolves every item of a stored batch with its receipt (proofs from the batch's own nodes
 * plus `base` for older ones) and reports each append.
 */
export function settleBatch(
  items: Pending[],
  sealed: SealedBatch,
  base: merkle.NodeReader,
  onAppended?: OnAppended,
): void {
  const read = memoReader(base, sealed);
  const shared = { memo: new merkle.RangeMemo(sealed.checkpoint.tree_size), hex: hexMemo() };
  for (let i = 0; i < items.length; i++) {
    const row = sealed.entries[i];
    items[i].resolve(appendResponse(row, sealed.checkpoint, read, shared));
    onAppended?.({
      tx_id: row.tx_id,
      index: row.index,
      event: items[i].input.event,
      leaf_hash: encodeHex(row.leaf_hash),
    });
  }
}

/** What one group commit's receipts share: right-edge range hashes and hex of proof nodes. */
export interface BatchMemo {
  memo: merkle.RangeMemo;
  hex: (h: Uint8Array) => string;
}

/** The answer to an append: the entry's index, leaf hash and receipt. */
export function appendResponse(
  row: EntryRow,
  cp: CheckpointRow,
  read: merkle.NodeReader,
  shared?: BatchMemo,
): AuditAppendResponse {
  return {
    transactionId: String(row.index),
    index: row.index,
    leaf_hash: encodeHex(row.leaf_hash),
    receipt: receipt(row, cp, read, shared),
  };
}

/**
 * The receipt of an entry: the inclusion proof in the tree of its checkpoint. One read back from
 * the store (no `shared` memo of a batch just sealed) is checked before it is served: the entry's
 * bytes must hash to its leaf and the proof lead from that leaf to the root its signed checkpoint
 * carries, so a store changed outside the ledger is reported, never served as a receipt.
 * @throws {LedgerCorruptError} when a stored entry, node or checkpoint does not match
 */
export function receipt(
  row: EntryRow,
  checkpoint: CheckpointRow,
  read: merkle.NodeReader,
  shared?: BatchMemo,
): Receipt {
  const proof = merkle.inclusionProof(read, row.index, checkpoint.tree_size, shared?.memo);
  if (!shared && !probes.has(read)) checkServed(row, checkpoint, proof);
  return {
    tree_size: checkpoint.tree_size,
    root_hash: encodeHex(checkpoint.root_hash),
    inclusion_proof: proof.map(shared?.hex ?? encodeHex),
    checkpoint: checkpoint.note,
  };
}

function sameEntry(a: AuditEntryInput, b: AuditEntryInput): boolean {
  return a.tx_id === b.tx_id && a.event === b.event && a.actor === b.actor &&
    canonicalize(a.payload) === canonicalize(b.payload);
}

function conflict(key: string | null): IdempotencyConflictError {
  return new IdempotencyConflictError(`Idempotency-Key ${key} was used for a different entry`);
}

/** Hex by identity: the batch's proofs reuse the same node arrays from the memo reader. */
function hexMemo(): (h: Uint8Array) => string {
  const seen = new Map<Uint8Array, string>();
  return (h) => {
    let s = seen.get(h);
    if (s === undefined) seen.set(h, s = encodeHex(h));
    return s;
  };
}

/** A reader that answers a batch's new leaves and nodes from memory and caches the rest. */
function memoReader(base: merkle.NodeReader, sealed: SealedBatch): merkle.NodeReader {
  const cache = new Map<string, Uint8Array>();
  for (const e of sealed.entries) cache.set(`0/${e.index}`, e.leaf_hash);
  for (const n of sealed.nodes) cache.set(`${n.level}/${n.index}`, n.hash);
  return (level, index) => {
    const k = `${level}/${index}`;
    let h = cache.get(k);
    if (!h) cache.set(k, h = base(level, index));
    return h;
  };
}

/** Readers of placeholder hashes that learn which nodes a proof reads (nothing to check there). */
const probes = new WeakSet<merkle.NodeReader>();

/** Marks a reader as answering placeholders: receipts built over it are not checked. */
export function probeReader(read: merkle.NodeReader): merkle.NodeReader {
  probes.add(read);
  return read;
}

/** What a store changed outside the ledger looks like to a reader; the verify command names it. */
const CHANGED = "the store was changed outside the ledger (iatp audit verify --db names the " +
  "first bad index)";

/** Throws unless a stored entry's bytes, leaf and proof match the root its checkpoint signs. */
function checkServed(row: EntryRow, checkpoint: CheckpointRow, proof: Uint8Array[]): void {
  const leaf = leafHashOfText(row.body);
  let index: unknown;
  try {
    index = (JSON.parse(row.body) as { index?: unknown }).index;
  } catch { /* reported below as not this entry */ }
  if (index !== row.index || !merkle.bytesEqual(leaf, row.leaf_hash)) {
    throw new LedgerCorruptError(`entry ${row.index} does not match its leaf hash: ${CHANGED}`);
  }
  const root = merkle.rootFromInclusion(row.index, checkpoint.tree_size, leaf, proof);
  const wrong = root === undefined
    ? `checkpoint ${checkpoint.tree_size} is not this tree's`
    : merkle.checkpointMismatch(checkpoint.note, {
      treeSize: checkpoint.tree_size,
      rootHash: root,
    });
  if (wrong || !merkle.bytesEqual(root!, checkpoint.root_hash)) {
    throw new LedgerCorruptError(
      `entry ${row.index} is not in the tree checkpoint ${checkpoint.tree_size} signs: ${CHANGED}`,
    );
  }
}
