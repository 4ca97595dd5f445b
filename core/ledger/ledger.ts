/**
 * The append-only ledger: a bounded queue of appends, group commit (every append waiting when
 * a commit starts shares its transaction and fsync), signed checkpoints, and receipts/proofs
 * served from stored perfect-subtree nodes.
 * @module
 */
import { setImmediate } from "node:timers";
import type { Ed25519KeyPair } from "../crypto/mod.ts";
import { type Logger, silentLogger } from "../log/mod.ts";
import { canonicalize, encodeHex } from "../encoding/mod.ts";
import type { AuditEntryInput } from "./client.ts";
import type { AuditAppendResponse, EntryWithReceipt, LedgerEntry, Receipt } from "./entry.ts";
import { entryText } from "./entry.ts";
import { bytesEqual, EMPTY_ROOT, leafHashOfText } from "./hash.ts";
import * as merkle from "./merkle.ts";
import { formatCheckpoint, formatVkey, keyId, signNote } from "./note.ts";
import type { CheckpointRow, EntryRow, LedgerStore } from "./store.ts";

/** Default most appends one commit takes. */
export const DEFAULT_MAX_BATCH = 1000;
/** Default most appends waiting for a commit before new ones are refused. */
export const DEFAULT_MAX_PENDING = 20_000;

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

/** Options for {@linkcode Ledger.open}. */
export interface LedgerOptions {
  store: LedgerStore;
  key: Ed25519KeyPair;
  /** Checkpoint origin line; default `iatp-audit/<key id>`, fixed at first open. */
  origin?: string;
  maxBatch?: number;
  maxPending?: number;
  log?: Logger;
  /** Called after each durable append (e.g. publish `audit.appended`); must not throw. */
  onAppended?: (e: { tx_id: string; index: number; event: string; leaf_hash: string }) => void;
}

interface Pending {
  input: AuditEntryInput;
  key: string | null;
  resolve: (r: AuditAppendResponse) => void;
  reject: (e: unknown) => void;
}

/** The ledger. */
export class Ledger {
  #frontier: merkle.Frontier;
  #pending: Pending[] = [];
  #writer: Promise<void> | undefined;
  #writing = false;
  #closed = false;
  #emptyNote: string | undefined;
  readonly #maxBatch: number;
  readonly #maxPending: number;
  readonly #log: Logger;
  /** The vkey (C2SP verifier key) that checks this log's checkpoints. */
  readonly vkey: string;

  private constructor(
    readonly store: LedgerStore,
    readonly origin: string,
    readonly key: Ed25519KeyPair,
    readonly opts: LedgerOptions,
  ) {
    this.#maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
    this.#maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
    this.#log = opts.log ?? silentLogger;
    this.vkey = formatVkey(origin, key.publicRaw);
    this.#frontier = merkle.Frontier.restore(this.#read, store.size());
  }

  /** Opens a ledger on a store, checking the key, origin and last checkpoint. */
  static open(opts: LedgerOptions): Promise<Ledger> {
    const { store, key } = opts;
    const id = encodeHex(keyId("iatp-audit", key.publicRaw));
    const origin = store.getMeta("origin") ?? opts.origin ?? `iatp-audit/${id}`;
    if (opts.origin && opts.origin !== origin) {
      throw new LedgerCorruptError(`log origin is "${origin}", not "${opts.origin}"`);
    }
    const vkey = formatVkey(origin, key.publicRaw);
    const storedVkey = store.getMeta("vkey");
    if (storedVkey && storedVkey !== vkey) {
      throw new LedgerCorruptError(`log is signed by ${storedVkey}; the configured key differs`);
    }
    if (!storedVkey) {
      store.setMeta("origin", origin);
      store.setMeta("vkey", vkey);
    }
    const ledger = new Ledger(store, origin, key, opts);
    const last = store.latestCheckpoint();
    if (last && last.tree_size !== ledger.size) {
      throw new LedgerCorruptError(
        `last checkpoint is at ${last.tree_size}, log has ${ledger.size}`,
      );
    }
    if (last && !bytesEqual(last.root_hash, ledger.#frontier.root())) {
      throw new LedgerCorruptError(`stored tree does not match checkpoint ${last.tree_size}`);
    }
    return Promise.resolve(ledger);
  }

  readonly #read: merkle.NodeReader = (level, index) => this.store.readNode(level, index);

  /** Number of durable entries. */
  get size(): number {
    return this.#frontier.size;
  }

  /** Appends waiting for a commit. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Appends an entry; resolves once it is durable, with its receipt. */
  append(
    input: AuditEntryInput,
    opts: { idempotencyKey?: string } = {},
  ): Promise<AuditAppendResponse> {
    if (this.#closed) return Promise.reject(new LedgerBusyError("ledger is closing"));
    if (this.#pending.length >= this.#maxPending) {
      return Promise.reject(new LedgerBusyError(`${this.#maxPending} appends already queued`));
    }
    // Reject what has no canonical form now, so a bad entry never fails a whole batch.
    canonicalize({ ...input, index: 0, ts: "" });
    const { promise, resolve, reject } = Promise.withResolvers<AuditAppendResponse>();
    this.#pending.push({ input, key: opts.idempotencyKey ?? null, resolve, reject });
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
        // was most of each commit cycle.
        await new Promise((r) => setImmediate(r));
        const batch = this.#pending.splice(0, this.#maxBatch);
        try {
          await this.#commit(batch);
        } catch (err) {
          this.#log.error("ledger commit failed", { err: String(err), entries: batch.length });
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      // Cleared in the same tick the loop sees an empty queue, so no append is ever stranded.
      this.#writing = false;
    }
  }

  /** Resolves duplicates by idempotency key; returns the items that need new entries. */
  #dedupe(batch: Pending[]): Pending[] {
    const fresh: Pending[] = [];
    const inBatch = new Map<string, Pending[]>();
    for (const p of batch) {
      if (p.key === null) {
        fresh.push(p);
        continue;
      }
      const prior = this.store.entryByKey(p.key);
      if (prior) {
        this.#settleExisting(p, prior);
      } else if (inBatch.has(p.key)) {
        inBatch.get(p.key)!.push(p);
      } else {
        inBatch.set(p.key, []);
        fresh.push(p);
        // Later duplicates in the same batch get the first one's receipt.
        const first = p;
        const followers = inBatch.get(p.key)!;
        const { resolve, reject } = first;
        first.resolve = (r) => {
          resolve(r);
          for (const f of followers) {
            sameEntry(f.input, first.input) ? f.resolve(r) : f.reject(conflict(f.key!));
          }
        };
        first.reject = (e) => {
          reject(e);
          for (const f of followers) f.reject(e);
        };
      }
    }
    return fresh;
  }

  #settleExisting(p: Pending, row: EntryRow): void {
    const prior = JSON.parse(row.body) as LedgerEntry;
    if (!sameEntry(p.input, prior)) return p.reject(conflict(p.key!));
    p.resolve(this.#response(row));
  }

  async #commit(batch: Pending[]): Promise<void> {
    const items = this.#dedupe(batch);
    if (items.length === 0) return;
    const frontier = this.#frontier.clone();
    const ts = new Date().toISOString();
    const entries: EntryRow[] = [];
    const nodes: merkle.NewNode[] = [];
    const newSize = frontier.size + items.length;
    for (const p of items) {
      const index = frontier.size;
      const body = entryText({ index, ts, ...p.input });
      const leaf = leafHashOfText(body);
      nodes.push(...frontier.append(leaf));
      entries.push({
        index,
        tx_id: p.input.tx_id,
        body,
        leaf_hash: leaf,
        receipt_size: newSize,
        idem_key: p.key,
      });
    }
    const root = frontier.root();
    const note = await signNote(
      formatCheckpoint({ origin: this.origin, treeSize: newSize, rootHash: root }),
      { name: this.origin, privateKey: this.key.privateKey, publicRaw: this.key.publicRaw },
    );
    const checkpoint: CheckpointRow = { tree_size: newSize, root_hash: root, note };
    this.store.commit({ entries, nodes, checkpoint });
    this.#frontier = frontier;
    const read = memoReader(this.#read, entries, nodes);
    const shared = { memo: new merkle.RangeMemo(newSize), hex: hexMemo() };
    for (let i = 0; i < items.length; i++) {
      const row = entries[i];
      items[i].resolve(this.#response(row, checkpoint, read, shared));
      this.opts.onAppended?.({
        tx_id: row.tx_id,
        index: row.index,
        event: items[i].input.event,
        leaf_hash: encodeHex(row.leaf_hash),
      });
    }
  }

  #response(
    row: EntryRow,
    cp?: CheckpointRow,
    read = this.#read,
    shared?: BatchMemo,
  ): AuditAppendResponse {
    return {
      transactionId: String(row.index),
      index: row.index,
      leaf_hash: encodeHex(row.leaf_hash),
      receipt: this.#receipt(row, cp, read, shared),
    };
  }

  #receipt(row: EntryRow, cp?: CheckpointRow, read = this.#read, shared?: BatchMemo): Receipt {
    const checkpoint = cp ?? this.store.checkpoint(row.receipt_size);
    if (!checkpoint) throw new LedgerCorruptError(`checkpoint ${row.receipt_size} is missing`);
    const proof = merkle.inclusionProof(read, row.index, checkpoint.tree_size, shared?.memo);
    return {
      tree_size: checkpoint.tree_size,
      root_hash: encodeHex(checkpoint.root_hash),
      inclusion_proof: proof.map(shared?.hex ?? encodeHex),
      checkpoint: checkpoint.note,
    };
  }

  #withReceipt(row: EntryRow): EntryWithReceipt {
    const e = JSON.parse(row.body) as LedgerEntry;
    return { ...e, leaf_hash: encodeHex(row.leaf_hash), receipt: this.#receipt(row) };
  }

  /** The entry at `index` with its receipt, or undefined beyond the end. */
  entry(index: number): EntryWithReceipt | undefined {
    const row = index < this.size ? this.store.entry(index) : undefined;
    return row ? this.#withReceipt(row) : undefined;
  }

  /** Entries of one transaction id with their receipts (at most `limit`). */
  entriesForTx(txId: string, limit: number): EntryWithReceipt[] {
    return this.store.entriesByTx(txId, limit).map((r) => this.#withReceipt(r));
  }

  /** Inclusion proof of `index` in the tree of `treeSize` (default: current). */
  inclusion(index: number, treeSize = this.size) {
    if (!(treeSize >= 1 && treeSize <= this.size)) {
      throw new LedgerRangeError(`tree_size must be from 1 to ${this.size}`);
    }
    if (!(index >= 0 && index < treeSize)) {
      throw new LedgerRangeError(`index must be from 0 to ${treeSize - 1}`);
    }
    return {
      index,
      tree_size: treeSize,
      leaf_hash: encodeHex(this.store.readNode(0, index)),
      root_hash: encodeHex(merkle.rootAt(this.#read, treeSize)),
      inclusion_proof: merkle.inclusionProof(this.#read, index, treeSize).map(encodeHex),
    };
  }

  /** Consistency proof between tree sizes `first` and `second` (default: current). */
  consistency(first: number, second = this.size) {
    if (!(second >= 1 && second <= this.size)) {
      throw new LedgerRangeError(`second must be from 1 to ${this.size}`);
    }
    if (!(first >= 1 && first <= second)) {
      throw new LedgerRangeError(`first must be from 1 to ${second}`);
    }
    return {
      first,
      second,
      first_root: encodeHex(merkle.rootAt(this.#read, first)),
      second_root: encodeHex(merkle.rootAt(this.#read, second)),
      consistency_proof: merkle.consistencyProof(this.#read, first, second).map(encodeHex),
    };
  }

  /** The latest signed checkpoint; for an empty log, a signed checkpoint of size 0. */
  async signedCheckpoint(): Promise<{ tree_size: number; root_hash_hex: string; note: string }> {
    const cp = this.store.latestCheckpoint();
    if (cp) {
      return { tree_size: cp.tree_size, root_hash_hex: encodeHex(cp.root_hash), note: cp.note };
    }
    this.#emptyNote ??= await signNote(
      formatCheckpoint({ origin: this.origin, treeSize: 0, rootHash: EMPTY_ROOT }),
      { name: this.origin, privateKey: this.key.privateKey, publicRaw: this.key.publicRaw },
    );
    return { tree_size: 0, root_hash_hex: encodeHex(EMPTY_ROOT), note: this.#emptyNote };
  }

  /** Stops accepting appends, waits for queued ones to commit, closes the store. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#writing) await this.#writer;
    this.store.close();
  }
}

function sameEntry(a: AuditEntryInput, b: AuditEntryInput): boolean {
  return a.tx_id === b.tx_id && a.event === b.event && a.actor === b.actor &&
    canonicalize(a.payload) === canonicalize(b.payload);
}

function conflict(key: string): IdempotencyConflictError {
  return new IdempotencyConflictError(`Idempotency-Key ${key} was used for a different entry`);
}

/** What one group commit's receipts share: right-edge range hashes and hex of proof nodes. */
interface BatchMemo {
  memo: merkle.RangeMemo;
  hex: (h: Uint8Array) => string;
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

/** A reader that answers this batch's new leaves and nodes from memory and caches the rest. */
function memoReader(
  base: merkle.NodeReader,
  entries: EntryRow[],
  nodes: merkle.NewNode[],
): merkle.NodeReader {
  const cache = new Map<string, Uint8Array>();
  for (const e of entries) cache.set(`0/${e.index}`, e.leaf_hash);
  for (const n of nodes) cache.set(`${n.level}/${n.index}`, n.hash);
  return (level, index) => {
    const k = `${level}/${index}`;
    let h = cache.get(k);
    if (!h) cache.set(k, h = base(level, index));
    return h;
  };
}
