/**
 * Offline verification of a ledger database: recomputes every leaf from its stored bytes,
 * rebuilds the tree, compares every stored node and checkpoint, and checks each checkpoint's
 * signature. Stops at the first problem and names the first bad index.
 * @module
 */
import { bytesEqual, leafHashOfText } from "./hash.ts";
import { encodeHex } from "../encoding/mod.ts";
import { Frontier } from "./merkle.ts";
import { type NoteVerifier, openCheckpoint, parseVkey } from "./note.ts";
import { LedgerStore } from "./store.ts";

/** Checkpoint signatures verified concurrently per round (bounds memory on huge logs). */
const SIGNATURE_ROUND = 256;

/** Outcome of a verification. */
export interface VerifyReport {
  ok: boolean;
  entries: number;
  checkpoints: number;
  root_hash?: string;
  /** The first index that is missing, modified, out of order or not covered as stored. */
  bad_index?: number;
  reason?: string;
}

class Bad extends Error {
  constructor(readonly index: number, message: string) {
    super(message);
  }
}

interface CheckpointCursor {
  next(): { size: number; note: string; root: Uint8Array } | undefined;
  close(): void;
}

/** Verifies the ledger at `path`. `vkey` pins the expected signer (default: the stored one). */
export async function verifyLedgerFile(
  path: string,
  opts: { vkey?: string } = {},
): Promise<VerifyReport> {
  const store = new LedgerStore(path, { readOnly: true });
  try {
    return await verifyStore(store, opts.vkey);
  } finally {
    store.close();
  }
}

async function verifyStore(store: LedgerStore, pinned?: string): Promise<VerifyReport> {
  const stored = store.getMeta("vkey");
  const vkeyText = pinned ?? stored;
  const verifier = vkeyText ? parseVkey(vkeyText) : undefined;
  if (!verifier) return fail(0, 0, 0, `no usable verifier key (${vkeyText ?? "none stored"})`);
  if (pinned && stored && pinned !== stored) {
    return fail(0, 0, 0, `log claims key ${stored}, expected ${pinned}`);
  }
  const frontier = new Frontier();
  // One read transaction: every chunked query below sees the same snapshot of a live file.
  store.db.exec("BEGIN");
  const cps = cursor(store);
  const sigs = new SignatureChecks(verifier);
  const nodes = new NodeCursors(store);
  let checkpoints = 0;
  let cp = cps.next();
  try {
    for (const chunk of store.entryChunks()) {
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
        for (const n of frontier.append(leaf)) nodes.expect(n.level, n.index, n.hash);
        while (cp && cp.size === frontier.size) {
          if (!bytesEqual(cp.root, frontier.root())) {
            throw new Bad(index, `checkpoint ${cp.size} does not match the recomputed tree`);
          }
          await sigs.add(cp.size, cp.note);
          checkpoints++;
          cp = cps.next();
        }
      }
    }
    const size = frontier.size;
    if (cp) throw new Bad(size, `checkpoint ${cp.size} covers entries the log lacks from ${size}`);
    if (size > 0 && store.latestCheckpoint()?.tree_size !== size) {
      const last = store.latestCheckpoint()?.tree_size ?? 0;
      throw new Bad(last, `entries from ${last} are not covered by any checkpoint`);
    }
    await sigs.settle();
    return { ok: true, entries: size, checkpoints, root_hash: encodeHex(frontier.root()) };
  } catch (err) {
    const earlier = await sigs.settle().then(() => undefined, (e) => e as Bad);
    const bad = earlier ?? (err instanceof Bad ? err : new Bad(frontier.size, String(err)));
    return fail(frontier.size, checkpoints, bad.index, bad.message);
  } finally {
    nodes.close();
    cps.close();
    store.db.exec("COMMIT");
  }
}

function fail(entries: number, checkpoints: number, index: number, reason: string): VerifyReport {
  return { ok: false, entries, checkpoints, bad_index: index, reason };
}

function cursor(store: LedgerStore): CheckpointCursor {
  const it = store.iterateCheckpoints()[Symbol.iterator]();
  return {
    next() {
      const r = it.next();
      if (r.done) return undefined;
      const v = r.value as Record<string, unknown>;
      return {
        size: Number(v.tree_size),
        note: v.note as string,
        root: v.root_hash as Uint8Array,
      };
    },
    close() {
      it.return?.();
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
  constructor(readonly store: LedgerStore) {}

  expect(level: number, index: number, hash: Uint8Array): void {
    let c = this.#levels.get(level);
    if (!c) this.#levels.set(level, c = new LevelCursor(this.store.nodeChunks(level)));
    const row = c.next();
    const first = index * 2 ** level;
    const last = first + 2 ** level - 1;
    if (!row || Number(row.idx) !== index) {
      throw new Bad(first, `tree node ${level}/${index} (entries ${first}..${last}) is missing`);
    }
    if (!bytesEqual(row.hash as Uint8Array, hash)) {
      throw new Bad(first, `tree node ${level}/${index} (entries ${first}..${last}) differs`);
    }
  }

  close(): void {
    for (const c of this.#levels.values()) c.close();
  }
}

/** Row-at-a-time reading over chunked queries. */
class LevelCursor {
  #rows: Array<Record<string, unknown>> = [];
  #at = 0;
  constructor(readonly chunks: Generator<Array<Record<string, unknown>>>) {}

  next(): Record<string, unknown> | undefined {
    if (this.#at === this.#rows.length) {
      const r = this.chunks.next();
      if (r.done) return undefined;
      this.#rows = r.value;
      this.#at = 0;
    }
    return this.#rows[this.#at++];
  }

  close(): void {
    this.chunks.return(undefined);
  }
}
