import assert from "node:assert/strict";
import { leafHash } from "../../../../core/ledger/proof/hash.ts";
import {
  Frontier,
  inclusionProof,
  type NewNode,
  RangeMemo,
} from "../../../../core/ledger/proof/merkle.ts";
import { eq, refPath } from "../rfc6962_reference.ts";

Deno.test("proofs sharing a RangeMemo match the RFC paths at every size and index", () => {
  const leaves: Uint8Array[] = [];
  const store = new Map<string, Uint8Array>();
  const f = new Frontier();
  for (let i = 0; i < 70; i++) {
    const leaf = leafHash(new TextEncoder().encode(`entry ${i}`));
    leaves.push(leaf);
    store.set(`0/${i}`, leaf);
    for (const n of f.append(leaf) as NewNode[]) store.set(`${n.level}/${n.index}`, n.hash);
  }
  const read = (level: number, index: number) => store.get(`${level}/${index}`)!;
  for (let size = 1; size <= 70; size++) {
    const memo = new RangeMemo(size);
    const foreign = new RangeMemo(size + 1); // a memo for another size must be ignored
    for (let index = size - 1; index >= 0; index--) {
      const want = refPath(index, leaves.slice(0, size));
      for (
        const got of [
          inclusionProof(read, index, size, memo),
          inclusionProof(read, index, size, foreign),
        ]
      ) {
        assert.equal(got.length, want.length);
        assert.ok(got.every((h, i) => eq(h, want[i])), `size ${size} index ${index}`);
      }
    }
  }
});
