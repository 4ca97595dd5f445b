/**
 * An independent verifier for tests, written from the RFC 6962 / RFC 9162 definitions and the
 * C2SP signed-note spec. It deliberately imports nothing from core/ledger, so ledger bugs
 * cannot hide behind shared code.
 * @module
 */
import { createHash } from "node:crypto";

/** SHA-256 of concatenated parts. */
export function sha(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** RFC 6962 leaf hash. */
export function refLeaf(bytes: Uint8Array): Uint8Array {
  return sha(new Uint8Array([0]), bytes);
}

/** RFC 6962 node hash. */
export function refNode(l: Uint8Array, r: Uint8Array): Uint8Array {
  return sha(new Uint8Array([1]), l, r);
}

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) over leaf hashes, straight from the definition. */
export function refRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return leaves[0];
  const k = split(leaves.length);
  return refNode(refRoot(leaves.slice(0, k)), refRoot(leaves.slice(k)));
}

/** PATH(m, D[n]) from the definition. */
export function refPath(m: number, leaves: Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...refPath(m, leaves.slice(0, k)), refRoot(leaves.slice(k))]
    : [...refPath(m - k, leaves.slice(k)), refRoot(leaves.slice(0, k))];
}

/** PROOF(m, D[n]) from the definition. */
export function refConsistency(m: number, leaves: Uint8Array[], b = true): Uint8Array[] {
  const n = leaves.length;
  if (m === n) return b ? [] : [refRoot(leaves)];
  const k = split(n);
  return m <= k
    ? [...refConsistency(m, leaves.slice(0, k), b), refRoot(leaves.slice(k))]
    : [...refConsistency(m - k, leaves.slice(k), false), refRoot(leaves.slice(0, k))];
}

/** Root implied by an audit path (recursion mirroring PATH); undefined when the shape is wrong. */
export function refRootFromPath(
  m: number,
  n: number,
  leaf: Uint8Array,
  proof: Uint8Array[],
): Uint8Array | undefined {
  if (n === 1) return proof.length === 0 ? leaf : undefined;
  if (proof.length === 0) return undefined;
  const k = split(n);
  const top = proof[proof.length - 1];
  const rest = proof.slice(0, -1);
  if (m < k) {
    const inner = refRootFromPath(m, k, leaf, rest);
    return inner && refNode(inner, top);
  }
  const inner = refRootFromPath(m - k, n - k, leaf, rest);
  return inner && refNode(top, inner);
}

/** Checks a consistency proof by recomputing both roots (recursion mirroring SUBPROOF). */
export function refCheckConsistency(
  m: number,
  n: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: Uint8Array[],
): boolean {
  const walk = (
    m: number,
    n: number,
    b: boolean,
    p: Uint8Array[],
  ): [Uint8Array, Uint8Array] | undefined => {
    if (m === n) {
      if (b) return p.length === 0 ? [oldRoot, oldRoot] : undefined;
      return p.length === 1 ? [p[0], p[0]] : undefined;
    }
    if (p.length === 0) return undefined;
    const k = split(n);
    const last = p[p.length - 1];
    if (m <= k) {
      const r = walk(m, k, b, p.slice(0, -1));
      return r && [r[0], refNode(r[1], last)];
    }
    const r = walk(m - k, n - k, false, p.slice(0, -1));
    return r && [refNode(last, r[0]), refNode(last, r[1])];
  };
  const r = walk(m, n, true, proof);
  return r !== undefined && eq(r[0], oldRoot) && eq(r[1], newRoot);
}

/** Byte equality. */
export function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Hex to bytes. */
export function fromHex(h: string): Uint8Array {
  return new Uint8Array((h.match(/../g) ?? []).map((x) => parseInt(x, 16)));
}

/** Bytes to hex. */
export function toHexRef(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function b64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/**
 * Checks a C2SP checkpoint note against a vkey (`name+hexid+base64(0x01||key)`) with WebCrypto:
 * returns the parsed size and root, or undefined when anything does not verify.
 */
export async function refOpenCheckpoint(
  note: string,
  vkey: string,
): Promise<{ size: number; root: Uint8Array; origin: string } | undefined> {
  const [name, idHex, ...rest] = vkey.split("+");
  const keyB64 = rest.join("+");
  const keyBytes = b64(keyB64);
  if (keyBytes[0] !== 1 || keyBytes.length !== 33) return undefined;
  const pub = keyBytes.slice(1);
  const enc = new TextEncoder();
  const id = sha(enc.encode(name), new Uint8Array([0x0a, 0x01]), pub).slice(0, 4);
  if (toHexRef(id) !== idHex) return undefined;
  const cut = note.lastIndexOf("\n\n");
  const body = note.slice(0, cut + 1);
  const key = await crypto.subtle.importKey("raw", pub, "Ed25519", false, ["verify"]);
  for (const line of note.slice(cut + 2).split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const blob = b64(m[2]);
    if (!eq(blob.slice(0, 4), id)) continue;
    if (await crypto.subtle.verify("Ed25519", key, blob.slice(4), enc.encode(body))) {
      const [origin, size, root] = body.split("\n");
      return { origin, size: Number(size), root: b64(root) };
    }
  }
  return undefined;
}

/** RFC 8785 canonical JSON for the test's plain entries (sorted keys, JSON.stringify scalars). */
export function refCanonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(refCanonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${
      Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${refCanonical(o[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(v);
}

/** Receipt shape as served. */
export interface RefReceipt {
  tree_size: number;
  root_hash: string;
  inclusion_proof: string[];
  checkpoint: string;
}

/** Fully verifies an entry's receipt: leaf, path, root, and the checkpoint signature. */
export async function refVerifyReceipt(
  entry: {
    index: number;
    tx_id: string;
    event: string;
    actor: string;
    payload: unknown;
    ts: string;
  },
  receipt: RefReceipt,
  vkey: string,
): Promise<boolean> {
  const { index, tx_id, event, actor, payload, ts } = entry;
  const leaf = refLeaf(
    new TextEncoder().encode(refCanonical({ index, tx_id, event, actor, payload, ts })),
  );
  const root = refRootFromPath(
    index,
    receipt.tree_size,
    leaf,
    receipt.inclusion_proof.map(fromHex),
  );
  if (!root || toHexRef(root) !== receipt.root_hash) return false;
  const cp = await refOpenCheckpoint(receipt.checkpoint, vkey);
  return cp !== undefined && cp.size === receipt.tree_size && eq(cp.root, root);
}
