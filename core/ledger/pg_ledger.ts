/**
 * The ledger on PostgreSQL: the same group commit, receipts, proofs and checkpoints as the
 * SQLite ledger, for any number of `iatp audit` replicas appending to one Merkle sequence. Each
 * group commit takes the writers' advisory lock, reloads the frontier from the head row, drops
 * appends whose idempotency key is already stored, inserts entries, nodes and the signed
 * checkpoint, moves the head and commits; an append is acknowledged only after that commit.
 * While the server is unreachable every request fails fast with 503 (UnavailableError) and the
 * engine gate reconnects with backoff.
 * @module
 */
import type { BackoffPolicy } from "../async/mod.ts";
import { deadline, every, isTimeout, type Timer } from "../async/mod.ts";
import type { Ed25519KeyPair } from "../crypto/mod.ts";
import { encodeHex } from "../encoding/mod.ts";
import { EngineGate, isPostgresOutage, type PostgresHandle } from "../engine/mod.ts";
import { type Logger, silentLogger } from "../log/mod.ts";
import {
  appendResponse,
  CommitQueue,
  dedupe,
  type OnAppended,
  type Pending,
  probeReader,
  receipt,
  sealBatch,
  settleBatch,
} from "./batch.ts";
import type { AuditEntryInput } from "./client/mod.ts";
import type { AuditAppendResponse, EntryWithReceipt, LedgerEntry, StoreHealth } from "./entry.ts";
import {
  LedgerCorruptError,
  LedgerKeyMismatchError,
  LedgerOriginMismatchError,
  LedgerRangeError,
} from "./errors.ts";
import { bytesEqual, checkpointMismatch } from "./proof/mod.ts";
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_PENDING } from "./ledger.ts";
import * as merkle from "./proof/mod.ts";
import { formatVkey, keyId, type SignedCheckpoint, signEmptyCheckpoint } from "./proof/mod.ts";
import { DEFAULT_COMMIT_TIMEOUT_MS, DEFAULT_HEALTH_PROBE_MS } from "./pg_defaults.ts";
import { PgLedgerStore } from "./pg_store.ts";
import type { CheckpointRow, EntryRow } from "./store.ts";

/** Options for {@linkcode PgLedger.open}. */
export interface PgLedgerOptions {
  /** A client from core/engine's `connectPostgres` (closed by {@linkcode PgLedger.close}). */
  pg: PostgresHandle;
  /** The log's one signing key, shared by every replica. */
  key: Ed25519KeyPair;
  /** Checkpoint origin line; default `iatp-audit/<key id>`, fixed at first open. */
  origin?: string;
  maxBatch?: number;
  maxPending?: number;
  /**
   * Longest message the client takes from the server (`db_max_message`): an entry whose row
   * would be longer is refused when appended (413), since it could not be read back.
   */
  maxRowBytes?: number;
  /** @default DEFAULT_COMMIT_TIMEOUT_MS */
  commitTimeoutMs?: number;
  /** Reconnection schedule while the server is unreachable. */
  reconnect?: BackoffPolicy;
  log?: Logger;
  onAppended?: OnAppended;
  /**
   * How often an idle replica asks the server for the tree size, so `/health` notices an
   * outage with no traffic (0: never). @default DEFAULT_HEALTH_PROBE_MS
   */
  healthProbeMs?: number;
}

/** A placeholder hash for the first pass of {@linkcode PgLedger}'s proof reads. */
const PROBE_HASH = new Uint8Array(32);

/** The ledger on PostgreSQL. */
export class PgLedger {
  #size = 0;
  #empty: Promise<SignedCheckpoint> | undefined;
  readonly #queue: CommitQueue;
  readonly #store: PgLedgerStore;
  readonly #gate: EngineGate;
  readonly #commitTimeout: number;
  #probe: Timer | undefined;
  #probing = false;
  /** The vkey (C2SP verifier key) that checks this log's checkpoints. */
  readonly vkey: string;

  private constructor(
    readonly origin: string,
    readonly key: Ed25519KeyPair,
    readonly opts: PgLedgerOptions,
  ) {
    const log = opts.log ?? silentLogger;
    this.#store = new PgLedgerStore(opts.pg.sql);
    this.#commitTimeout = opts.commitTimeoutMs ?? DEFAULT_COMMIT_TIMEOUT_MS;
    this.#gate = new EngineGate({
      label: `PostgreSQL ${opts.pg.label}`,
      kind: "PostgreSQL",
      probe: async () => {
        await deadline(Promise.resolve(opts.pg.sql`SELECT 1`), this.#commitTimeout);
      },
      isOutage: (err) => isPostgresOutage(err) || isTimeout(err),
      // Reads and proofs wait no longer than a commit may (a hung server answers 503).
      opTimeoutMs: this.#commitTimeout,
      reconnect: opts.reconnect,
      log,
    });
    this.#queue = new CommitQueue({
      maxBatch: opts.maxBatch ?? DEFAULT_MAX_BATCH,
      maxPending: opts.maxPending ?? DEFAULT_MAX_PENDING,
      maxRowBytes: opts.maxRowBytes,
      log,
      commit: (batch) => this.#commit(batch),
    });
    this.vkey = formatVkey(origin, key.publicRaw);
  }

  /**
   * Creates the tables if needed (tables a newer release stamped are refused before anything is
   * written), claims or checks the log's origin and key, and checks that the head row matches the
   * last checkpoint.
   * @throws {NewerSchemaError} when a newer release stamped the tables' schema version
   * @throws {LedgerCorruptError} when the key or origin differ from the stored ones, or the
   * head does not match the last checkpoint.
   * @throws the client's error when the server cannot be reached (check it first with
   * core/engine's `checkPostgres` for a message naming the URL).
   */
  static async open(opts: PgLedgerOptions): Promise<PgLedger> {
    const store = new PgLedgerStore(opts.pg.sql, opts.pg.label);
    await store.migrate();
    await store.checkPrivileges();
    const id = encodeHex(keyId("iatp-audit", opts.key.publicRaw));
    const wanted = opts.origin ?? `iatp-audit/${id}`;
    const meta = await store.claimMeta({
      origin: wanted,
      vkey: formatVkey(wanted, opts.key.publicRaw),
    });
    const origin = meta.get("origin") ?? wanted;
    if (opts.origin && opts.origin !== origin) {
      throw new LedgerOriginMismatchError(origin, opts.origin);
    }
    const ledger = new PgLedger(origin, opts.key, opts);
    const storedVkey = meta.get("vkey");
    if (storedVkey !== ledger.vkey) {
      throw new LedgerKeyMismatchError(String(storedVkey));
    }
    const [head, last] = await Promise.all([store.head(), store.latestCheckpoint()]);
    if ((last?.tree_size ?? 0) !== head.size) {
      throw new LedgerCorruptError(
        `last checkpoint is at ${last?.tree_size}, log has ${head.size}`,
      );
    }
    if (last && !bytesEqual(last.root_hash, head.root)) {
      throw new LedgerCorruptError(`stored tree does not match checkpoint ${last.tree_size}`);
    }
    // Receipts carry the signed note: its size and root must be the tree's, not only the row's.
    const wrong = last && checkpointMismatch(last.note, {
      origin,
      treeSize: last.tree_size,
      rootHash: last.root_hash,
    });
    if (wrong) throw new LedgerCorruptError(wrong);
    ledger.#size = head.size;
    const probeMs = opts.healthProbeMs ?? DEFAULT_HEALTH_PROBE_MS;
    if (probeMs > 0) ledger.#probe = every(probeMs, () => ledger.#probeIdle());
    return ledger;
  }

  /** Entries known durable as of the last commit or read of this replica (others may add). */
  get size(): number {
    return this.#size;
  }

  /** Appends waiting for a commit on this replica. */
  get pending(): number {
    return this.#queue.length;
  }

  /** While idle and believed up, one read that marks the server down if it does not answer. */
  #probeIdle(): void {
    if (this.#probing || !this.#gate.up || this.#queue.length > 0) return;
    this.#probing = true;
    // The gate logs the outage and reconnects; the answer itself is not needed.
    this.treeSize().catch(() => {}).finally(() => this.#probing = false);
  }

  /**
   * Whether the server is reachable and took the last commit, and why not: `PostgreSQL is
   * unreachable` (no URL), or the server's refusal of the last commit (a full disk).
   */
  storeHealth(): StoreHealth {
    if (!this.#gate.up) {
      return { ok: false, engine: "postgres", reason: "PostgreSQL is unreachable" };
    }
    if (this.#corrupt !== undefined) {
      return { ok: false, engine: "postgres", reason: this.#corrupt };
    }
    const failure = this.#queue.failure;
    return failure === undefined
      ? { ok: true, engine: "postgres" }
      : { ok: false, engine: "postgres", reason: failure };
  }

  /** True while the server is reachable (readiness). */
  get reachable(): boolean {
    return this.#gate.up;
  }

  /**
   * Appends an entry; resolves once its transaction has committed, with its receipt.
   * @throws {LedgerBusyError} (rejects) when the queue is full or the ledger is closing.
   * @throws {IdempotencyConflictError} (rejects) when the key holds a different entry.
   * @throws {UnavailableError} (rejects) when the server is unreachable or the commit times out.
   */
  append(
    input: AuditEntryInput,
    opts: { idempotencyKey?: string } = {},
  ): Promise<AuditAppendResponse> {
    return this.#queue.push(input, opts.idempotencyKey ?? null);
  }

  async #commit(batch: Pending[]): Promise<void> {
    const signer = { origin: this.origin, key: this.key };
    const done = await this.#gate.run(() =>
      deadline(
        this.#store.sequence(async (frontier, seq) => {
          const keys = batch.flatMap((p) => p.key === null ? [] : [p.key]);
          const prior = await seq.entriesByKeys(keys);
          const split = dedupe(batch, (k) => prior.get(k));
          if (split.fresh.length === 0) return { ...split, sealed: undefined };
          const sealed = await sealBatch(frontier, split.fresh, signer);
          await seq.write(sealed, sealed.frontier);
          return { ...split, sealed };
        }),
        this.#commitTimeout,
      )
    );
    if (done.sealed) {
      this.#size = Math.max(this.#size, done.sealed.checkpoint.tree_size);
      settleBatch(done.fresh, done.sealed, edgeReader(done.sealed.edge), this.opts.onAppended);
    }
    if (done.existing.length === 0) return;
    const rows = done.existing.map(([, row]) => row);
    const answers = await this.#gate.run(() => this.#withReceipts(rows, appendResponse))
      .catch((err) => {
        for (const [p] of done.existing) p.reject(err);
        return [];
      });
    answers.forEach((a, i) => done.existing[i][0].resolve(a));
  }

  /**
   * Runs a proof computation whose node reads are known only by running it: once over
   * placeholder hashes to learn which nodes it reads (the tree shape alone decides that), then
   * over those nodes fetched in one query.
   */
  async #withNodes<T>(compute: (read: merkle.NodeReader) => T): Promise<T> {
    try {
      return await this.#readNodes(compute);
    } catch (err) {
      // A store changed outside the ledger stays in /health until a restart.
      if (err instanceof LedgerCorruptError) this.#corrupt ??= err.message;
      throw err;
    }
  }

  /** Why a read found the store changed outside the ledger (kept until restart). */
  #corrupt: string | undefined;

  async #readNodes<T>(compute: (read: merkle.NodeReader) => T): Promise<T> {
    const wanted = new Map<string, [number, number]>();
    compute(probeReader((level, index) => {
      wanted.set(`${level}/${index}`, [level, index]);
      return PROBE_HASH;
    }));
    const found = await this.#store.nodes([...wanted.values()]);
    return compute((level, index) => {
      const h = found.get(`${level}/${index}`);
      if (!h) throw new LedgerCorruptError(`tree node ${level}/${index} is missing`);
      return h;
    });
  }

  /** Maps rows to answers that need each row's checkpoint and proof nodes (two queries). */
  async #withReceipts<T>(
    rows: EntryRow[],
    make: (row: EntryRow, cp: CheckpointRow, read: merkle.NodeReader) => T,
  ): Promise<T[]> {
    if (rows.length === 0) return [];
    const cps = await this.#store.checkpoints([...new Set(rows.map((r) => r.receipt_size))]);
    const cpOf = (row: EntryRow) => {
      const cp = cps.get(row.receipt_size);
      if (!cp) throw new LedgerCorruptError(`checkpoint ${row.receipt_size} is missing`);
      return cp;
    };
    try {
      rows.forEach(cpOf);
    } catch (err) {
      if (err instanceof LedgerCorruptError) this.#corrupt ??= err.message;
      throw err;
    }
    return await this.#withNodes((read) => rows.map((row) => make(row, cpOf(row), read)));
  }

  #withReceipt = (row: EntryRow, cp: CheckpointRow, read: merkle.NodeReader) => {
    const e = JSON.parse(row.body) as LedgerEntry;
    return { ...e, leaf_hash: encodeHex(row.leaf_hash), receipt: receipt(row, cp, read) };
  };

  /** Number of entries covered by the latest checkpoint. */
  treeSize(): Promise<number> {
    return this.#gate.run(async () => {
      const size = (await this.#store.latestCheckpoint())?.tree_size ?? 0;
      this.#size = Math.max(this.#size, size);
      return size;
    });
  }

  /** The entry at `index` with its receipt, or undefined beyond the end. */
  entry(index: number): Promise<EntryWithReceipt | undefined> {
    return this.#gate.run(async () => {
      const row = await this.#store.entry(index);
      if (!row) return undefined;
      const [e] = await this.#withReceipts([row], this.#withReceipt);
      return e;
    });
  }

  /** Entries of one transaction id with their receipts (at most `limit`). */
  entriesForTx(txId: string, limit: number): Promise<EntryWithReceipt[]> {
    return this.#gate.run(async () =>
      this.#withReceipts(await this.#store.entriesByTx(txId, limit), this.#withReceipt)
    );
  }

  /**
   * Inclusion proof of `index` in the tree of `treeSize` (default: current).
   * @throws {LedgerRangeError} (rejects) outside the tree.
   */
  async inclusion(index: number, treeSize?: number) {
    const current = await this.treeSize();
    const size = treeSize ?? current;
    if (!(size >= 1 && size <= current)) {
      throw new LedgerRangeError(`tree_size must be from 1 to ${current}`);
    }
    if (!(index >= 0 && index < size)) {
      throw new LedgerRangeError(`index must be from 0 to ${size - 1}`);
    }
    return await this.#gate.run(() =>
      this.#withNodes((read) => ({
        index,
        tree_size: size,
        leaf_hash: encodeHex(read(0, index)),
        root_hash: encodeHex(merkle.rootAt(read, size)),
        inclusion_proof: merkle.inclusionProof(read, index, size).map(encodeHex),
      }))
    );
  }

  /**
   * Consistency proof between tree sizes `first` and `second` (default: current).
   * @throws {LedgerRangeError} (rejects) outside the tree.
   */
  async consistency(first: number, second?: number) {
    const current = await this.treeSize();
    const to = second ?? current;
    if (!(to >= 1 && to <= current)) {
      throw new LedgerRangeError(`second must be from 1 to ${current}`);
    }
    if (!(first >= 1 && first <= to)) {
      throw new LedgerRangeError(`first must be from 1 to ${to}`);
    }
    return await this.#gate.run(() =>
      this.#withNodes((read) => ({
        first,
        second: to,
        first_root: encodeHex(merkle.rootAt(read, first)),
        second_root: encodeHex(merkle.rootAt(read, to)),
        consistency_proof: merkle.consistencyProof(read, first, to).map(encodeHex),
      }))
    );
  }

  /** The latest signed checkpoint; for an empty log, a signed checkpoint of size 0. */
  async signedCheckpoint(): Promise<SignedCheckpoint> {
    const cp = await this.#gate.run(() => this.#store.latestCheckpoint());
    if (cp) {
      this.#size = Math.max(this.#size, cp.tree_size);
      return { tree_size: cp.tree_size, root_hash_hex: encodeHex(cp.root_hash), note: cp.note };
    }
    this.#empty ??= signEmptyCheckpoint({
      name: this.origin,
      privateKey: this.key.privateKey,
      publicRaw: this.key.publicRaw,
    });
    return await this.#empty;
  }

  /** Stops accepting appends, waits for queued ones, stops reconnecting, closes the client. */
  async close(): Promise<void> {
    this.#probe?.cancel();
    await this.#queue.close();
    await this.#gate.close();
    await this.opts.pg.close();
  }
}

/**
 * Reads the perfect subtrees of the tree before a batch: with the batch's own nodes, every node
 * its receipts need (each left sibling on a new entry's path is one of them).
 */
function edgeReader(edge: merkle.NewNode[]): merkle.NodeReader {
  const nodes = new Map(edge.map((n) => [`${n.level}/${n.index}`, n.hash]));
  return (level, index) => {
    const h = nodes.get(`${level}/${index}`);
    if (!h) throw new LedgerCorruptError(`tree node ${level}/${index} is not on the frontier`);
    return h;
  };
}
