/** The ledger's leaf and node hashes against the RFC 6962 reference. @module */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { leafHash, leafHashOfText, nodeHash } from "../../../../core/ledger/proof/hash.ts";
import { refLeaf, refNode } from "../rfc6962_reference.ts";

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("leaf and node hashes match the reference for all input sizes", () => {
  for (let n = 0; n <= 200; n++) {
    const data = new Uint8Array(randomBytes(n));
    assert.equal(hexOf(leafHash(data)), hexOf(refLeaf(data)), `leaf of ${n} bytes`);
  }
  // Larger than the initial scratch buffer, then a small one again.
  for (const n of [5000, 3, 100_000, 10]) {
    const data = new Uint8Array(randomBytes(n));
    assert.equal(hexOf(leafHash(data)), hexOf(refLeaf(data)), `leaf of ${n} bytes`);
  }
  const a = new Uint8Array(randomBytes(32));
  const b = new Uint8Array(randomBytes(32));
  assert.equal(hexOf(nodeHash(a, b)), hexOf(refNode(a, b)));
  assert.equal(hexOf(nodeHash(a, b.subarray(0, 5))), hexOf(refNode(a, b.subarray(0, 5))));
});

Deno.test("leafHashOfText hashes the same bytes TextEncoder produces", () => {
  const enc = new TextEncoder();
  const texts = [
    "",
    '{"a":1}',
    "caf\u00e9 \u20ac \u{1F600} \u4e2d\u6587",
    "lone \ud800 surrogate \udc00 end \ud83d",
    "\u{1F600}".repeat(3000),
    "x".repeat(70_000),
    "\u00e9".repeat(10),
  ];
  for (const t of texts) {
    assert.equal(hexOf(leafHashOfText(t)), hexOf(refLeaf(enc.encode(t))), JSON.stringify(t));
  }
});
