import assert from "node:assert/strict";
import { leafHash, nodeHash } from "../../../../core/ledger/proof/hash.ts";
import {
  consistencyProof,
  Frontier,
  inclusionProof,
  type NewNode,
  rootAt,
  rootFromInclusion,
  verifyConsistency,
} from "../../../../core/ledger/proof/merkle.ts";
import {
  eq,
  refCheckConsistency,
  refConsistency,
  refLeaf,
  refNode,
  refPath,
  refRoot,
  refRootFromPath,
} from "../rfc6962_reference.ts";

/** Builds leaves and the node store a Frontier reports, as storage would persist them. */
function build(n: number) {
  const leaves: Uint8Array[] = [];
  const nodes = new Map<string, Uint8Array>();
  const f = new Frontier();
  for (let i = 0; i < n; i++) {
    const leaf = leafHash(new TextEncoder().encode(`entry ${i}`));
    leaves.push(leaf);
    nodes.set(`0/${i}`, leaf);
    for (const nn of f.append(leaf) as NewNode[]) nodes.set(`${nn.level}/${nn.index}`, nn.hash);
  }
  const read = (level: number, index: number) => {
    const h = nodes.get(`${level}/${index}`);
    if (!h) throw new Error(`missing ${level}/${index}`);
    return h;
  };
  return { leaves, read, frontier: f };
}

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129];

Deno.test("hashes are RFC 6962 leaf and node hashes", () => {
  const data = new TextEncoder().encode("hello");
  assert.ok(eq(leafHash(data), refLeaf(data)));
  assert.ok(eq(nodeHash(refLeaf(data), data), refNode(refLeaf(data), data)));
});

Deno.test("tree heads match MTH at many sizes, from the frontier and from stored nodes", () => {
  const { leaves, read } = build(129);
  for (const n of [...SIZES, 0]) {
    const want = refRoot(leaves.slice(0, n));
    assert.ok(eq(rootAt(read, n), want), `rootAt ${n}`);
    assert.ok(eq(build(n).frontier.root(), want), `frontier ${n}`);
    if (n > 0) assert.ok(eq(Frontier.restore(read, n).root(), want), `restore ${n}`);
  }
});

Deno.test("inclusion proofs equal PATH and verify at every index of many sizes", () => {
  const { leaves, read } = build(129);
  for (const n of SIZES) {
    const tree = leaves.slice(0, n);
    const root = refRoot(tree);
    for (let m = 0; m < n; m++) {
      const proof = inclusionProof(read, m, n);
      const want = refPath(m, tree);
      assert.equal(proof.length, want.length, `length m=${m} n=${n}`);
      proof.forEach((p, i) => assert.ok(eq(p, want[i]), `PATH(${m}, ${n})[${i}]`));
      assert.ok(eq(refRootFromPath(m, n, leaves[m], proof)!, root), `ref verify ${m}/${n}`);
      assert.ok(eq(rootFromInclusion(m, n, leaves[m], proof)!, root), `verify ${m}/${n}`);
      if (n > 1) {
        assert.ok(!eq(rootFromInclusion(m, n, leaves[(m + 1) % n], proof)!, root), "wrong leaf");
      }
    }
  }
});

Deno.test("consistency proofs equal PROOF and verify for every pair up to 40 and large sizes", () => {
  const { leaves, read } = build(129);
  const pairs: Array<[number, number]> = [];
  for (let n = 1; n <= 40; n++) for (let m = 1; m <= n; m++) pairs.push([m, n]);
  pairs.push([1, 129], [64, 129], [65, 128], [100, 129], [127, 128], [3, 100]);
  for (const [m, n] of pairs) {
    const proof = consistencyProof(read, m, n);
    const want = refConsistency(m, leaves.slice(0, n));
    assert.equal(proof.length, want.length, `length ${m}->${n}`);
    proof.forEach((p, i) => assert.ok(eq(p, want[i]), `PROOF(${m}, ${n})[${i}]`));
    const r1 = refRoot(leaves.slice(0, m));
    const r2 = refRoot(leaves.slice(0, n));
    assert.ok(refCheckConsistency(m, n, r1, r2, proof), `ref check ${m}->${n}`);
    assert.ok(verifyConsistency(m, n, r1, r2, proof), `verify ${m}->${n}`);
    if (m < n) {
      const wrong = refRoot(leaves.slice(1, m + 1));
      assert.ok(!verifyConsistency(m, n, wrong, r2, proof), `wrong old root ${m}->${n}`);
    }
  }
});

Deno.test("malformed proofs are rejected, never thrown", () => {
  const { leaves, read } = build(10);
  const proof = inclusionProof(read, 3, 10);
  assert.equal(rootFromInclusion(3, 10, leaves[3], proof.slice(1)), undefined);
  assert.equal(rootFromInclusion(3, 10, leaves[3], [...proof, proof[0]]), undefined);
  assert.equal(rootFromInclusion(10, 10, leaves[3], proof), undefined);
  assert.equal(rootFromInclusion(-1, 10, leaves[3], proof), undefined);
  assert.throws(() => inclusionProof(read, 10, 10), RangeError);
  assert.throws(() => consistencyProof(read, 0, 10), RangeError);
  const root = rootAt(read, 10);
  assert.ok(!verifyConsistency(0, 10, root, root, []));
  assert.ok(!verifyConsistency(4, 10, rootAt(read, 4), root, []));
});
