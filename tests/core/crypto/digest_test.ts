/** Tests for SHA-256 hex digests and the constant-time comparison of secrets. @module */
import assert from "node:assert/strict";
import { constantTimeEqual, sha256Hex, sha256HexOfBody } from "../../../core/crypto/mod.ts";

Deno.test("sha256Hex: FIPS 180-2 vectors, for text and for bytes", () => {
  assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(sha256Hex(new TextEncoder().encode("abc")), sha256Hex("abc"));
  assert.equal(sha256Hex("\u00e9"), sha256Hex(new Uint8Array([0xc3, 0xa9])), "text is UTF-8");
});

Deno.test("constantTimeEqual: equal, different and different-length byte strings", () => {
  const a = crypto.getRandomValues(new Uint8Array(32));
  assert.equal(constantTimeEqual(a, a.slice()), true);
  const b = a.slice();
  b[31] ^= 1;
  assert.equal(constantTimeEqual(a, b), false);
  assert.equal(constantTimeEqual(a, a.subarray(0, 31)), false, "a shorter input is unequal");
  assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
  // A difference anywhere, in any bit, is found: the first byte, the last, each bit of a byte.
  for (let i = 0; i < a.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const c = a.slice();
      c[i] ^= 1 << bit;
      assert.equal(constantTimeEqual(a, c), false, `byte ${i}, bit ${bit}`);
    }
  }
});

Deno.test("sha256HexOfBody (WebCrypto) equals sha256Hex at every padding boundary and on 1 MB", async () => {
  const sizes = [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 1 << 20];
  for (const n of sizes) {
    const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
    assert.equal(await sha256HexOfBody(data), sha256Hex(data), `length ${n}`);
    const view = new Uint8Array(n + 8).fill(7).subarray(4, 4 + n);
    view.set(data);
    assert.equal(
      await sha256HexOfBody(view),
      sha256Hex(data),
      `length ${n}, a view into a larger buffer`,
    );
  }
});
