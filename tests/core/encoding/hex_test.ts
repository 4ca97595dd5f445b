/** Tests for hex encoding: lowercase out, either case in, malformed text refused. @module */
import assert from "node:assert/strict";
import { decodeHex, encodeHex, isHex } from "../../../core/encoding/hex.ts";

Deno.test("encodeHex: lowercase, two digits a byte, empty for no bytes", () => {
  assert.equal(encodeHex(new Uint8Array([0, 1, 15, 16, 171, 255])), "00010f10abff");
  assert.equal(encodeHex(new Uint8Array(0)), "");
  const view = new Uint8Array([9, 8, 7, 6]).subarray(1, 3);
  assert.equal(encodeHex(view), "0807", "a view encodes only its own bytes");
});

Deno.test("decodeHex: round trip, either case", () => {
  const bytes = crypto.getRandomValues(new Uint8Array(257));
  assert.deepEqual(decodeHex(encodeHex(bytes)), bytes);
  assert.deepEqual(decodeHex("00ABff"), new Uint8Array([0, 171, 255]));
  assert.deepEqual(decodeHex(""), new Uint8Array(0));
});

Deno.test("decodeHex refuses odd length, non-hex digits and white space", () => {
  for (const bad of ["a", "abc", "zz", "0x00", " 00", "00 ", "0g", "\u0660\u0660"]) {
    assert.throws(() => decodeHex(bad), SyntaxError, JSON.stringify(bad));
    assert.equal(isHex(bad), false, JSON.stringify(bad));
  }
  assert.equal(isHex("0a0B"), true);
});
