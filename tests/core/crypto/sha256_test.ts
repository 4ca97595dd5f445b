/** The plain-JavaScript SHA-256 against FIPS 180-4 examples and node:crypto. @module */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { sha256Hex, sha256Js } from "../../../core/crypto/mod.ts";

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

Deno.test("sha256Hex of text matches node:crypto on the same string, lone surrogates included", () => {
  const texts = [
    "",
    "abc",
    "caf\u00e9 \u20ac \u{1F600} \u4e2d\u6587",
    "lone \ud800 surrogate \udc00 end \ud83d",
    "x".repeat(70_000),
  ];
  for (const t of texts) {
    assert.equal(sha256Hex(t), createHash("sha256").update(t).digest("hex"), JSON.stringify(t));
  }
  for (let n = 0; n <= 130; n++) {
    const data = new Uint8Array(randomBytes(n));
    assert.equal(sha256Hex(data), native(data), `length ${n}`);
  }
});

Deno.test("sha256Js is right when its input's own code hashes meanwhile (no shared scratch)", () => {
  // A Uint8Array subclass runs its own code on subarray(), and a Proxy on every element read:
  // a hash started from there must not clobber the one in progress.
  class Reentrant extends Uint8Array {
    override subarray(begin?: number, end?: number): Uint8Array<ArrayBuffer> {
      sha256Js(new Uint8Array(10));
      return new Uint8Array(this.buffer, this.byteOffset, this.length).subarray(begin, end);
    }
  }
  for (const n of [0, 5, 64, 100, 200]) {
    const data = new Reentrant(n).fill(7);
    assert.equal(hexOf(sha256Js(data)), native(new Uint8Array(n).fill(7)), `subclass, length ${n}`);
  }
  const base = new Uint8Array(randomBytes(150));
  const proxy = new Proxy(base, {
    get(target, key) {
      if (key === "10" || key === "140") sha256Js(new Uint8Array(70));
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  assert.equal(hexOf(sha256Js(proxy)), native(base), "proxy");
});
