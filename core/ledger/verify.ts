/**
 * Offline verification of a ledger's storage (a SQLite file, or PostgreSQL through
 * pg_verify.ts): recomputes every leaf from its stored bytes, rebuilds the tree, compares every
 * stored node and checkpoint, and checks each checkpoint's signature. Stops at the first problem
 * and names the first bad index.
 * @module
 */
import { bytesEqual, leafHashOfText } from "./proof/mod.ts";
import { encodeHex } from "../encoding/mod.ts";
import { Frontier } from "./proof/mod.ts";
import { checkpointMismatch, type NoteVerifier, openCheckpoint, parseVkey } from "./proof/mod.ts";
import { LedgerStore } from "./store.ts";

/** Checkpoint signatures verified concurrently per round (bounds memory on huge logs). */
const SIGNATURE_ROUND = 256;

/** Outcome of a verification. */
export interface VerifyReport {
  ok: boolean;
  entries: number;
  checkpoints: number;
  root_hash?: string;
  /** The vkey the checkpoints were checked with (the pinned one, else the one the log stores). */
  vkey?: string;
  /** The first index that is missing, modified, out of order or not covered as stored. */
  bad_index?: number;
  reason?: string;
}

class Bad extends Error {
  constructor(readonly index: number, message: string) {
    super(message);
  }
}

type Row = Record<string, unknown>;
type Awaitable<T> = T | Promise<T>;

/**
 * What verification reads, in index order and from one consistent snapshot: a SQLite read
 * transaction, or a PostgreSQL repeatable-read one. Chunks are lists of rows (`idx`, `body`,
 * `leaf_hash` for entries; `idx`, `hash` for nodes; `tree_size`, `root_hash`, `note` for
 * checkpoints); sync sources stay sync so the embedded path pays no await per row.
 */
export interface LedgerScan {
  getMeta(key: string): Awaitable<string | undefined>;
  entryChunks(): Iterable<Row[]> | AsyncIterable<Row[]>;
  nodeChunks(level: number): Iterator<Row[]> | AsyncIterator<Row[]>;
  checkpoints(): Iterator<Row> | AsyncIterator<Row>;
  latestCheckpointSize(): Awaitable<number | undefined>;
}

/** Verifies the ledger at `path`. `vkey` pins the expected signer (default: the stored one). */
export async function verifyLedgerFile(
  path: string,
  opts: { vkey?: string } = {},
): Promise<VerifyReport> {
  const store = new LedgerStore(path, { readOnly: true });
  // One read transaction: every chunked query sees the same snapshot of a live file.
  store.db.exec("BEGIN");
  try {
    return await verifyScan({
      getMeta: (key) => store.getMeta(key),
      entryChunks: () => store.entryChunks(),
      nodeChunks: (level) => store.nodeChunks(level),
      checkpoints: () => store.iterateCheckpoints()[Symbol.iterator](),
      latestCheckpointSize: () => store.latestCheckpoint()?.tree_size,
    }, opts.vkey);
  } finally {
    store.db.exec("COMMIT");
    store.close();
  }
}

/**
 * Verifies what a scan reads. `pinned` is the expected signer (default: the stored vkey).
 */
export async function verifyScan(scan: LedgerScan, pinned?: string): Promise<VerifyReport> {
  const stored = await scan.getMeta("vkey");
  const vkeyText = pinned ?? stored;
  const verifier = vkeyText ? parseVkey(vkeyText) : undefined;
  if (!verifier) return fail(0, 0, 0, `no usable verifier key (${vkeyText ?? "none stored"})`);
  if (pinned && stored && pinned !== stored) {
    return fail(0, 0, 0, `log claims key ${stored}, expected ${pinned}`);
  }
  const frontier = new Frontier();
  const cps = cursor(scan);
  const sigs = new SignatureChecks(verifier);
  const nodes = new NodeCursors(scan);
  let checkpoints = 0;
  let cp = await cps.next();
  try {
    for await (const chunk of scan.entryChunks()) {
      for (const row of chunk) {
        const index = frontier.size;
        const idx = Number(row.idx);
        if (idx !== index) {
          throw new Bad(index, `entry ${index} is missing (next stored is ${idx})`);
        }
        const body = row.body as string;
        let claimed: unknown;
        try {
          claimed = (JSON.parse(body) as { index?: unknown }).index;
        } catch {
          throw new Bad(index, `entry ${index} is not JSON`);
        }
        if (claimed !== index) {
          throw new Bad(index, `entry ${index} holds the entry of index ${claimed} (reordered)`);
        }
        const leaf = leafHashOfText(body);
        if (!bytesEqual(leaf, row.leaf_hash as Uint8Array)) {
          throw new Bad(index, `entry ${index} does not match its leaf hash (modified)`);
        }
        for (const n of frontier.append(leaf)) {
          const reading = nodes.expect(n.level, n.index, n.hash);
          if (reading) await reading;
        }
        while (cp && cp.size === frontier.size) {
          const root = frontier.root();
          if (!bytesEqual(cp.root, root)) {
            throw new Bad(index, `checkpoint ${cp.size} does not match the recomputed tree`);
          }
          // The root stored beside the note is not signed: the note's own must be the tree's.
          const wrong = checkpointMismatch(cp.note, {
            origin: verifier.name,
            treeSize: cp.size,
            rootHash: root,
          });
          if (wrong) throw new Bad(index, wrong);
          await sigs.add(cp.size, cp.note);
          checkpoints++;
          cp = await cps.next();
        }
      }
    }
    const size = frontier.size;
    if (cp) throw new Bad(size, `checkpoint ${cp.size} covers entries the log lacks from ${size}`);
    const last = await scan.latestCheckpointSize() ?? 0;
    if (size > 0 && last !== size) {
      throw new Bad(last, `entries from ${last} are not covered by any checkpoint`);
    }
    await sigs.settle();
    return {
      ok: true,
      entries: size,
      checkpoints,
      root_hash: encodeHex(frontier.root()),
      vkey: vkeyText,
    };
  } catch (err) {
    const earlier = await sigs.settle().then(() => undefined, (e) => e as Bad);
    const bad = earlier ?? (err instanceof Bad ? err : new Bad(frontier.size, String(err)));
    return fail(frontier.size, checkpoints, bad.index, bad.message);
  } finally {
    await nodes.close();
    await cps.close();
  }
}

function fail(entries: number, checkpoints: number, index: number, reason: string): VerifyReport {
  return { ok: false, entries, checkpoints, bad_index: index, reason };
}

interface CheckpointCursor {
  next(): Promise<{ size: number; note: string; root: Uint8Array } | undefined>;
  close(): Promise<unknown>;
}

function cursor(scan: LedgerScan): CheckpointCursor {
  const it = scan.checkpoints();
  return {
    async next() {
      const r = await it.next();
      if (r.done) return undefined;
      const v = r.value;
      return {
        size: Number(v.tree_size),
        note: v.note as string,
        root: v.root_hash as Uint8Array,
      };
    },
    async close() {
      await it.return?.();
    },
  };
}

/** Verifies checkpoint signatures in concurrent rounds; the earliest failure wins. */
class SignatureChecks {
  #round: Array<Promise<Bad | undefined>> = [];
  constructor(readonly verifier: NoteVerifier) {}

  async add(size: number, note: string): Promise<void> {
    this.#round.push(
      openCheckpoint(note, this.verifier).then((r) => {
        if ("reason" in r) return new Bad(size - 1, `checkpoint ${size}: ${r.reason}`);
        if (r.checkpoint.treeSize !== size) {
          return new Bad(size - 1, `checkpoint ${size} mislabeled`);
        }
        return undefined;
      }),
    );
    if (this.#round.length >= SIGNATURE_ROUND) await this.settle();
  }

  async settle(): Promise<void> {
    const results = await Promise.all(this.#round);
    this.#round = [];
    const bad = results.find((b) => b !== undefined);
    if (bad) throw bad;
  }
}

/** One cursor per tree level over the stored nodes, advanced as the rebuild completes nodes. */
class NodeCursors {
  #levels = new Map<number, LevelCursor>();
  constructor(readonly scan: LedgerScan) {}

  /** Checks the next stored node of `level`; a promise only when a chunk had to be read. */
  expect(level: number, index: number, hash: Uint8Array): void | Promise<void> {
    let c = this.#levels.get(level);
    if (!c) this.#levels.set(level, c = new LevelCursor(this.scan.nodeChunks(level)));
    const row = c.next();
    if (row instanceof Promise) return row.then((r) => checkNode(r, level, index, hash));
    checkNode(row, level, index, hash);
  }

  async close(): Promise<void> {
    for (const c of this.#levels.values()) await c.close();
  }
}

function checkNode(row: Row | undefined, level: number, index: number, hash: Uint8Array): void {
  const first = index * 2 ** level;
  const last = first + 2 ** level - 1;
  if (!row || Number(row.idx) !== index) {
    throw new Bad(first, `tree node ${level}/${index} (entries ${first}..${last}) is missing`);
  }
  if (!bytesEqual(row.hash as Uint8Array, hash)) {
    throw new Bad(first, `tree node ${level}/${index} (entries ${first}..${last}) differs`);
  }
}

/** Row-at-a-time reading over chunked queries; synchronous while the source is. */
class LevelCursor {
  #rows: Row[] = [];
  #at = 0;
  #done = false;
  constructor(readonly chunks: Iterator<Row[]> | AsyncIterator<Row[]>) {}

  next(): Row | undefined | Promise<Row | undefined> {
    if (this.#at < this.#rows.length) return this.#rows[this.#at++];
    if (this.#done) return undefined;
    const r = this.chunks.next();
    return r instanceof Promise ? r.then((x) => this.#fill(x)) : this.#fill(r);
  }

  #fill(r: IteratorResult<Row[]>): Row | undefined {
    if (r.done || r.value.length === 0) {
      this.#done = true;
      return undefined;
    }
    this.#rows = r.value;
    this.#at = 0;
    return this.#rows[this.#at++];
  }

  async close(): Promise<void> {
    await this.chunks.return?.(undefined);
  }
}
