/**
 * The append-only ledger: a bounded queue of appends, group commit (every append waiting when
 * a commit starts shares its transaction and fsync), signed checkpoints, and receipts/proofs
 * served from stored perfect-subtree nodes.
 * @module
 */
import type { Ed25519KeyPair } from "../crypto/mod.ts";
import { type Logger, silentLogger } from "../log/mod.ts";
import { encodeHex } from "../encoding/mod.ts";
import type { AuditEntryInput } from "./client/mod.ts";
import type {
  AuditAppendResponse,
  EntryWithReceipt,
  LedgerEntry,
  Receipt,
  StoreHealth,
} from "./entry.ts";
import {
  appendResponse,
  CommitQueue,
  dedupe,
  type OnAppended,
  type Pending,
  receipt,
  sealBatch,
  settleBatch,
} from "./batch.ts";
import {
  LedgerCorruptError,
  LedgerKeyMismatchError,
  LedgerOriginMismatchError,
  LedgerRangeError,
} from "./errors.ts";
import { bytesEqual } from "./proof/mod.ts";
import * as merkle from "./proof/mod.ts";
import {
  checkpointMismatch,
  formatVkey,
  keyId,
  parseVkey,
  type SignedCheckpoint,
  signEmptyCheckpoint,
} from "./proof/mod.ts";
import { LedgerKey } from "./keys.ts";
import type { EntryRow, LedgerStore } from "./store.ts";

export {
  IdempotencyConflictError,
  LedgerBusyError,
  LedgerCorruptError,
  LedgerRangeError,
} from "./errors.ts";

/** Default most appends one commit takes. */
export const DEFAULT_MAX_BATCH = 1000;
/** Default most appends waiting for a commit before new ones are refused. */
export const DEFAULT_MAX_PENDING = 20_000;

/** Options for {@linkcode Ledger.open}. */
export interface LedgerOptions {
  store: LedgerStore;
  /**
   * The signing key: a key pair, or a {@linkcode LedgerKey} whose pair is derived only when the
   * store holds no check of its seed (a first start, or a store from before checks were kept) or
   * when the ledger first signs.
   */
  key: Ed25519KeyPair | LedgerKey;
  /** Checkpoint origin line; default `iatp-audit/<key id>`, fixed at first open. */
  origin?: string;
  maxBatch?: number;
  maxPending?: number;
  log?: Logger;
  /** Called after each durable append (e.g. publish `audit.appended`); must not throw. */
  onAppended?: OnAppended;
}

/** The ledger. */
export class Ledger {
  #frontier: merkle.Frontier;
  #empty: Promise<SignedCheckpoint> | undefined;
  readonly #queue: CommitQueue;
  readonly #pair: () => Promise<Ed25519KeyPair>;
  /** The vkey (C2SP verifier key) that checks this log's checkpoints. */
  readonly vkey: string;

  private constructor(
    readonly store: LedgerStore,
    readonly origin: string,
    key: { publicRaw: Uint8Array; pair: () => Promise<Ed25519KeyPair> },
    readonly opts: LedgerOptions,
  ) {
    this.#pair = key.pair;
    this.#queue = new CommitQueue({
      maxBatch: opts.maxBatch ?? DEFAULT_MAX_BATCH,
      maxPending: opts.maxPending ?? DEFAULT_MAX_PENDING,
      log: opts.log ?? silentLogger,
      commit: (batch) => this.#commit(batch),
    });
    this.vkey = formatVkey(origin, key.publicRaw);
    this.#frontier = merkle.Frontier.restore(this.#read, store.size());
  }

  /**
   * Opens a ledger on a store, checking the key, origin and last checkpoint. A
   * {@linkcode LedgerKey} whose seed's check the store holds stands for the public key of the
   * stored vkey (its pair is derived with the first signature); any other is derived now and
   * matched against the stored vkey, and its check is stored once it matched.
   */
  static async open(opts: LedgerOptions): Promise<Ledger> {
    const { store } = opts;
    const key = await signerOf(opts.key, store);
    const id = encodeHex(keyId("iatp-audit", key.publicRaw));
    const origin = store.getMeta("origin") ?? opts.origin ?? `iatp-audit/${id}`;
    if (opts.origin && opts.origin !== origin) {
      throw new LedgerOriginMismatchError(origin, opts.origin);
    }
    const vkey = formatVkey(origin, key.publicRaw);
    const storedVkey = store.getMeta("vkey");
    if (storedVkey && storedVkey !== vkey) {
      throw new LedgerKeyMismatchError(String(storedVkey));
    }
    if (!storedVkey) {
      store.setMeta("origin", origin);
      store.setMeta("vkey", vkey);
    }
    // The seed's check for the vkey it was just matched against (the pair derived now).
    if (key.unchecked) store.setMeta(KEY_CHECK, key.unchecked.check(vkey));
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
    // Receipts carry the signed note: its size and root must be the tree's, not only the row's.
    const wrong = last && checkpointMismatch(last.note, {
      origin,
      treeSize: last.tree_size,
      rootHash: last.root_hash,
    });
    if (wrong) throw new LedgerCorruptError(wrong);
    return ledger;
  }

  readonly #read: merkle.NodeReader = (level, index) => this.store.readNode(level, index);

  /** Number of durable entries. */
  get size(): number {
    return this.#frontier.size;
  }

  /** Appends waiting for a commit. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Whether the last commit was written (a full or read-only disk fails it), and why not. */
  storeHealth(): StoreHealth {
    if (this.#corrupt !== undefined) return { ok: false, engine: "sqlite", reason: this.#corrupt };
    const failure = this.#queue.failure;
    return failure === undefined
      ? { ok: true, engine: "sqlite" }
      : { ok: false, engine: "sqlite", reason: failure };
  }

  /** Number of durable entries (the same as {@linkcode size}; the interface routes use). */
  treeSize(): number {
    return this.size;
  }

  /**
   * Appends an entry; resolves once it is durable, with its receipt.
   * @throws {LedgerBusyError} (rejects) when the queue is full or the ledger is closing.
   * @throws {IdempotencyConflictError} (rejects) when the key holds a different entry.
   */
  append(
    input: AuditEntryInput,
    opts: { idempotencyKey?: string } = {},
  ): Promise<AuditAppendResponse> {
    return this.#queue.push(input, opts.idempotencyKey ?? null);
  }

  async #commit(batch: Pending[]): Promise<void> {
    const { fresh, existing } = dedupe(batch, (key) => this.store.entryByKey(key));
    for (const [p, row] of existing) {
      try {
        p.resolve(this.#response(row));
      } catch (err) {
        p.reject(err); // a damaged stored entry fails its own retry, not the batch
      }
    }
    if (fresh.length === 0) return;
    const key = await this.#pair();
    const sealed = await sealBatch(this.#frontier, fresh, { origin: this.origin, key });
    this.store.commit(sealed);
    this.#frontier = sealed.frontier;
    settleBatch(fresh, sealed, this.#read, this.opts.onAppended);
  }

  #response(row: EntryRow): AuditAppendResponse {
    return this.#noting(() => appendResponse(row, this.#checkpointOf(row), this.#read));
  }

  /** Why a read found the store changed outside the ledger, for `/health` (kept until restart). */
  #corrupt: string | undefined;

  /** Runs a read, remembering a store found changed outside the ledger. */
  #noting<T>(read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (err instanceof LedgerCorruptError) this.#corrupt ??= err.message;
      throw err;
    }
  }

  #checkpointOf(row: EntryRow) {
    const checkpoint = this.store.checkpoint(row.receipt_size);
    if (!checkpoint) throw new LedgerCorruptError(`checkpoint ${row.receipt_size} is missing`);
    return checkpoint;
  }

  #receipt(row: EntryRow): Receipt {
    return receipt(row, this.#checkpointOf(row), this.#read);
  }

  #withReceipt(row: EntryRow): EntryWithReceipt {
    const e = JSON.parse(row.body) as LedgerEntry;
    return { ...e, leaf_hash: encodeHex(row.leaf_hash), receipt: this.#receipt(row) };
  }

  /** The entry at `index` with its receipt, or undefined beyond the end. */
  entry(index: number): EntryWithReceipt | undefined {
    if (!(index < this.size)) return undefined;
    return this.#noting(() => {
      const row = this.store.entry(index);
      if (!row) throw new LedgerCorruptError(`entry ${index} is missing from the store`);
      return this.#withReceipt(row);
    });
  }

  /** Entries of one transaction id with their receipts (at most `limit`). */
  entriesForTx(txId: string, limit: number): EntryWithReceipt[] {
    return this.#noting(() => this.store.entriesByTx(txId, limit).map((r) => this.#withReceipt(r)));
  }

  /** Inclusion proof of `index` in the tree of `treeSize` (default: current). */
  inclusion(index: number, treeSize = this.size) {
    if (!(treeSize >= 1 && treeSize <= this.size)) {
      throw new LedgerRangeError(`tree_size must be from 1 to ${this.size}`);
    }
    if (!(index >= 0 && index < treeSize)) {
      throw new LedgerRangeError(`index must be from 0 to ${treeSize - 1}`);
    }
    return this.#noting(() => ({
      index,
      tree_size: treeSize,
      leaf_hash: encodeHex(this.store.readNode(0, index)),
      root_hash: encodeHex(merkle.rootAt(this.#read, treeSize)),
      inclusion_proof: merkle.inclusionProof(this.#read, index, treeSize).map(encodeHex),
    }));
  }

  /** Consistency proof between tree sizes `first` and `second` (default: current). */
  consistency(first: number, second = this.size) {
    if (!(second >= 1 && second <= this.size)) {
      throw new LedgerRangeError(`second must be from 1 to ${this.size}`);
    }
    if (!(first >= 1 && first <= second)) {
      throw new LedgerRangeError(`first must be from 1 to ${second}`);
    }
    return this.#noting(() => ({
      first,
      second,
      first_root: encodeHex(merkle.rootAt(this.#read, first)),
      second_root: encodeHex(merkle.rootAt(this.#read, second)),
      consistency_proof: merkle.consistencyProof(this.#read, first, second).map(encodeHex),
    }));
  }

  /** The latest signed checkpoint; for an empty log, a signed checkpoint of size 0. */
  async signedCheckpoint(): Promise<SignedCheckpoint> {
    const cp = this.store.latestCheckpoint();
    if (cp) {
      return { tree_size: cp.tree_size, root_hash_hex: encodeHex(cp.root_hash), note: cp.note };
    }
    this.#empty ??= this.#pair().then((key) =>
      signEmptyCheckpoint({
        name: this.origin,
        privateKey: key.privateKey,
        publicRaw: key.publicRaw,
      })
    );
    return await this.#empty;
  }

  /** Stops accepting appends, waits for queued ones to commit, closes the store. */
  async close(): Promise<void> {
    await this.#queue.close();
    this.store.close();
  }
}

/** The meta key of the signing seed's check ({@linkcode LedgerKey.check}). */
const KEY_CHECK = "key_check";

/**
 * The public key a ledger opens with and how it gets its pair; `unchecked`: a
 * {@linkcode LedgerKey} whose pair was derived now, its check for the vkey to store once the vkey
 * matched.
 */
async function signerOf(
  key: Ed25519KeyPair | LedgerKey,
  store: LedgerStore,
): Promise<{ publicRaw: Uint8Array; pair: () => Promise<Ed25519KeyPair>; unchecked?: LedgerKey }> {
  if (!(key instanceof LedgerKey)) {
    return {
      publicRaw: key.publicRaw,
      pair: () => Promise.resolve(key),
    };
  }
  const storedVkey = store.getMeta("vkey") ?? "";
  const stored = parseVkey(storedVkey);
  // The check binds the seed to the stored vkey: one edited by hand (or a check edited) does
  // not match, and the pair is derived and matched against the vkey now.
  if (stored && key.matches(store.getMeta(KEY_CHECK), storedVkey)) {
    const publicRaw = stored.publicRaw;
    return {
      publicRaw,
      // The seed's check matched, so its pair's public key is the stored one; a pair that is not
      // (a hash collision) signs nothing.
      pair: async () => {
        const pair = await key.pair();
        if (!bytesEqual(pair.publicRaw, publicRaw)) {
          throw new LedgerCorruptError("the configured key differs from the log's vkey");
        }
        return pair;
      },
    };
  }
  const pair = await key.pair();
  return { publicRaw: pair.publicRaw, pair: () => Promise.resolve(pair), unchecked: key };
}
