import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { leafHash, leafHashOfText, nodeHash } from "../../../core/ledger/hash.ts";
import { sha256Js } from "../../../core/ledger/sha256.ts";
import { refLeaf, refNode } from "./rfc6962_reference.ts";

const native = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("sha256Js matches FIPS 180-4 examples", () => {
  const enc = new TextEncoder();
  assert.equal(
    hexOf(sha256Js(new Uint8Array(0))),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(
    hexOf(sha256Js(enc.encode("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    hexOf(sha256Js(enc.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("sha256Js matches node:crypto at every length across several blocks", () => {
  for (let n = 0; n <= 300; n++) {
    const data = new Uint8Array(randomBytes(n));
    assert.equal(hexOf(sha256Js(data)), native(data), `length ${n}`);
  }
  for (const n of [1000, 4095, 4096, 65_537, 1 << 20]) {
    const data = new Uint8Array(randomBytes(n));
    assert.equal(hexOf(sha256Js(data)), native(data), `length ${n}`);
  }
});

Deno.test("sha256Js hashes a prefix when given a length", () => {
  const data = new Uint8Array(randomBytes(200));
  for (const n of [0, 1, 55, 56, 64, 119, 120, 199]) {
    assert.equal(hexOf(sha256Js(data, n)), native(data.subarray(0, n)));
  }
  assert.throws(() => sha256Js(data, 201), RangeError);
  assert.throws(() => sha256Js(data, -1), RangeError);
});

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
