/** Dot-segment removal (RFC 3986 §5.2.4 examples), target characters and lenient decoding. */
import assert from "node:assert/strict";
import {
  checkTargetText,
  normalizePath,
  percentDecode,
  TargetError,
} from "../../../../core/http/client/mod.ts";

Deno.test("dot segments are removed as RFC 3986 §5.2.4 does, %2e read as a dot", () => {
  const cases: Array<[string, string]> = [
    ["/a/b/c/./../../g", "/a/g"], // the RFC's own example
    ["/a/./b", "/a/b"],
    ["/a/b/..", "/a/"],
    ["/a/.", "/a/"],
    ["/a/..", "/"],
    ["/a/%2e%2E/b", "/b"],
    ["/a/%2E/b", "/a/b"],
    ["/a/.%2e/b", "/b"],
    ["/a/..b/c", "/a/..b/c"], // not a dot segment
    ["/a/...", "/a/..."],
    ["/a/%2e%2e%2e", "/a/%2e%2e%2e"],
    ["/a//b", "/a//b"], // empty segments are kept
    ["/v1/x", "/v1/x"],
    ["/%78/y", "/%78/y"], // other escapes stay as written
    ["/a%2Fb", "/a%2Fb"], // an escaped slash inside a segment is data
    ["/", "/"],
  ];
  for (const [input, want] of cases) assert.equal(normalizePath(input), want, input);
});

Deno.test("paths that climb above their root, hide dot segments or hold NUL are refused", () => {
  for (
    const bad of [
      "/..",
      "/../foo",
      "/%2e%2e/foo",
      "/%2E./foo",
      "/a/../../foo",
      "/a/./../..",
      "/..%2f..%2fetc",
      "/x/..%5Cfoo",
      "/a%2f%2e%2e",
      "/a%00b",
      "/a%0d%0ab",
      "/a\u0000b",
      "/a b",
      "/a\\..\\b",
      "/a#frag",
      "/caf\u00e9",
      "/a%zz",
      "/a%4",
      "a/b",
      "",
    ]
  ) {
    assert.throws(() => normalizePath(bad), TargetError, JSON.stringify(bad));
  }
});

Deno.test("query text: printable ASCII with valid escapes only", () => {
  checkTargetText("a=1&b=%20x+y&c=/?d", "query");
  for (const bad of ["a=1 2", "a=%g0", "a=\u00e9", "a=1#x", "a=%00", "a=\t"]) {
    assert.throws(() => checkTargetText(bad, "query"), TargetError, JSON.stringify(bad));
  }
});

Deno.test("percentDecode decodes what it can and leaves the rest", () => {
  assert.equal(percentDecode("4532%2D0151%20%2b1"), "4532-0151 +1");
  assert.equal(percentDecode("a+b", true), "a b");
  assert.equal(percentDecode("a+b"), "a+b");
  assert.equal(percentDecode("100%"), "100%");
  assert.equal(percentDecode("%zz%4"), "%zz%4");
  assert.equal(percentDecode("caf%C3%A9"), "caf\u00e9");
  assert.equal(percentDecode("%FF"), "\ufffd");
  assert.equal(percentDecode("plain"), "plain");
});
