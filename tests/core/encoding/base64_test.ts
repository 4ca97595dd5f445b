/** Tests for base64 and base64url: RFC 4648 vectors, the forgiving decoder, refusals. @module */
import assert from "node:assert/strict";
import { decodeBase64, encodeBase64, encodeBase64Url } from "../../../core/encoding/base64.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

Deno.test("RFC 4648 section 10 test vectors", () => {
  const vectors: Array<[string, string]> = [
    ["", ""],
    ["f", "Zg=="],
    ["fo", "Zm8="],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg=="],
    ["fooba", "Zm9vYmE="],
    ["foobar", "Zm9vYmFy"],
  ];
  for (const [plain, b64] of vectors) {
    assert.equal(encodeBase64(utf8(plain)), b64);
    assert.equal(encodeBase64Url(utf8(plain)), b64.replace(/=+$/, ""));
    assert.deepEqual(decodeBase64(b64), utf8(plain));
  }
});

Deno.test("the two alphabets differ only in 62 and 63", () => {
  const bytes = new Uint8Array([0xfb, 0xff, 0xbf]);
  assert.equal(encodeBase64(bytes), "+/+/");
  assert.equal(encodeBase64Url(bytes), "-_-_");
  assert.deepEqual(decodeBase64("+/+/"), bytes);
  assert.deepEqual(decodeBase64("-_-_"), bytes);
});

Deno.test("decodeBase64 forgives missing padding and surrounding white space", () => {
  const bytes = crypto.getRandomValues(new Uint8Array(100));
  assert.deepEqual(decodeBase64(encodeBase64Url(bytes)), bytes);
  assert.deepEqual(decodeBase64(`  ${encodeBase64(bytes)}\n`), bytes);
  assert.deepEqual(decodeBase64("AQL//g"), new Uint8Array([1, 2, 255, 254]));
});

Deno.test("decodeBase64 refuses what is not base64", () => {
  for (const bad of ["*", "A", "AB=C", "Zg===", "Zm9v!", "\u00e9"]) {
    assert.throws(() => decodeBase64(bad), SyntaxError, JSON.stringify(bad));
  }
});
