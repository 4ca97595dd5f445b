/**
 * RFC 9162 section 2.1 Merkle tree algorithms over a store of perfect-subtree hashes: tree heads,
 * inclusion and consistency proofs, their verification, and the append frontier.
 *
 * A "node" (level L, index i) is the hash of the perfect subtree over leaves
 * [i * 2^L, (i + 1) * 2^L); level 0 holds leaf hashes. Every range the RFC recursion visits
 * starts aligned to its largest power of two, so any tree head or proof is assembled from
 * stored nodes plus O(log n) hashes along the right edge.
 * @module
 */
import { bytesEqual, EMPTY_ROOT, nodeHash } from "./hash.ts";

/** Reads the stored hash of perfect subtree (level, index); throws when it is absent. */
export type NodeReader = (level: number, index: number) => Uint8Array;

/** A new perfect-subtree node produced by an append. */
export interface NewNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

/** Largest power of two strictly below n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPow2(n: number): boolean {
  // Arithmetic, not bit tricks: tree sizes may exceed 2^31.
  return n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

function log2(n: number): number {
  return Math.round(Math.log2(n));
}

/**
 * Hashes of non-power-of-two ranges already computed for one tree size. Every such range a
 * proof visits ends at the tree size, so many proofs against the same size (a group commit's
 * receipts) share them instead of re-hashing the right edge for each entry.
 */
export class RangeMemo {
  readonly hashes = new Map<number, Uint8Array>();
  constructor(readonly size: number) {}
}

/** MTH(D[a:b]) for a range starting aligned to its largest power of two. */
function rangeHash(read: NodeReader, a: number, b: number, memo?: RangeMemo): Uint8Array {
  const n = b - a;
  if (n <= 0) return EMPTY_ROOT;
  if (isPow2(n)) return read(log2(n), a / n);
  const m = memo?.size === b ? memo : undefined;
  let h = m?.hashes.get(a);
  if (h) return h;
  const k = splitPoint(n);
  h = nodeHash(read(log2(k), a / k), rangeHash(read, a + k, b, m));
  m?.hashes.set(a, h);
  return h;
}

/** The tree head MTH(D[0:size]). */
export function rootAt(read: NodeReader, size: number): Uint8Array {
  return rangeHash(read, 0, size);
}

/**
 * PATH(index, D[0:size]): sibling hashes from the leaf up (RFC 9162 2.1.3.1). `memo` (for
 * this `size`) shares right-edge hashes across proofs.
 * @throws {RangeError} unless `0 <= index < size`
 */
export function inclusionProof(
  read: NodeReader,
  index: number,
  size: number,
  memo?: RangeMemo,
): Uint8Array[] {
  if (!(index >= 0 && index < size)) throw new RangeError(`index ${index} not in tree ${size}`);
  const out: Uint8Array[] = [];
  const path = (m: number, a: number, b: number) => {
    const n = b - a;
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      path(m, a, a + k);
      out.push(rangeHash(read, a + k, b, memo));
    } else {
      path(m - k, a + k, b);
      out.push(rangeHash(read, a, a + k, memo));
    }
  };
  path(index, 0, size);
  return out;
}

/**
 * PROOF(first, D[0:second]) (RFC 9162 2.1.4.1); empty when first == second.
 * @throws {RangeError} unless `0 < first <= second` (and `second` within the tree)
 */
export function consistencyProof(read: NodeReader, first: number, second: number): Uint8Array[] {
  if (!(first > 0 && first <= second)) {
    throw new RangeError(`consistency needs 0 < first <= second, got ${first}, ${second}`);
  }
  const out: Uint8Array[] = [];
  const sub = (m: number, a: number, b: number, whole: boolean) => {
    const n = b - a;
    if (m === n) {
      if (!whole) out.push(rangeHash(read, a, b));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, a, a + k, whole);
      out.push(rangeHash(read, a + k, b));
    } else {
      sub(m - k, a + k, b, false);
      out.push(rangeHash(read, a, a + k));
    }
  };
  sub(first, 0, second, true);
  return out;
}

/** Root implied by an inclusion proof (RFC 9162 2.1.3.2), or undefined when malformed. */
export function rootFromInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: Uint8Array[],
): Uint8Array | undefined {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) {
    return undefined;
  }
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

/** Verifies a consistency proof between two tree heads (RFC 9162 2.1.4.2). */
export function verifyConsistency(
  first: number,
  second: number,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  proof: Uint8Array[],
): boolean {
  if (!(first > 0 && first <= second)) return false;
  if (first === second) return proof.length === 0 && bytesEqual(firstRoot, secondRoot);
  const path = isPow2(first) ? [firstRoot, ...proof] : proof;
  if (path.length === 0) return false;
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(fr, firstRoot) && bytesEqual(sr, secondRoot);
}

/**
 * The right edge of a growing tree: one pending perfect subtree per set bit of the size.
 * Appending a leaf reports every perfect-subtree node it completes, so storage can persist
 * exactly those and answer any later proof from stored nodes.
 */
export class Frontier {
  #levels: Array<Uint8Array | undefined> = [];
  #size = 0;

  /** Rebuilds the frontier of a stored tree of `size` leaves. */
  static restore(read: NodeReader, size: number): Frontier {
    const f = new Frontier();
    let start = 0;
    for (let level = 52; level >= 0; level--) {
      const width = 2 ** level;
      if (size - start >= width) {
        f.#levels[level] = read(level, start / width);
        start += width;
      }
    }
    f.#size = size;
    return f;
  }

  /** Number of leaves. */
  get size(): number {
    return this.#size;
  }

  /** Adds a leaf hash; returns the completed perfect-subtree nodes at levels >= 1. */
  append(leaf: Uint8Array): NewNode[] {
    const made: NewNode[] = [];
    let h = leaf;
    let level = 0;
    const index = this.#size;
    while (this.#levels[level] !== undefined) {
      h = nodeHash(this.#levels[level]!, h);
      this.#levels[level] = undefined;
      level++;
      made.push({ level, index: Math.floor(index / 2 ** level), hash: h });
    }
    this.#levels[level] = h;
    this.#size++;
    return made;
  }

  /**
   * The pending perfect subtrees, highest level first: exactly the nodes {@linkcode restore}
   * reads for this size, and every node left of the size that a later append's proofs need.
   */
  edge(): NewNode[] {
    const out: NewNode[] = [];
    let start = 0;
    for (let level = this.#levels.length - 1; level >= 0; level--) {
      const h = this.#levels[level];
      if (h === undefined) continue;
      out.push({ level, index: start / 2 ** level, hash: h });
      start += 2 ** level;
    }
    return out;
  }

  /** The current tree head. */
  root(): Uint8Array {
    let acc: Uint8Array | undefined;
    for (const h of this.#levels) {
      if (h === undefined) continue;
      acc = acc === undefined ? h : nodeHash(h, acc);
    }
    return acc ?? EMPTY_ROOT;
  }

  /** An independent copy (for speculative batches that may roll back). */
  clone(): Frontier {
    const f = new Frontier();
    f.#levels = [...this.#levels];
    f.#size = this.#size;
    return f;
  }
}
