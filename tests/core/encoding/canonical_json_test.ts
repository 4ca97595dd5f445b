/** Tests for RFC 8785 canonical JSON: ordering, numbers, escapes and refusals. @module */
import assert from "node:assert/strict";
import {
  canonicalize,
  CanonicalJsonError,
  MAX_CANONICAL_DEPTH,
} from "../../../core/encoding/mod.ts";

Deno.test("RFC 8785: keys sorted by UTF-16 code units, no whitespace", () => {
  // The sorting example from RFC 8785 section 3.2.3.
  const input = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
  };
  // Read the key order from the text: JSON.parse would reorder integer-like keys.
  const keys = [...canonicalize(input).matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((m) =>
    JSON.parse(`"${m[1]}"`)
  );
  assert.deepEqual(keys, ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"]);
  assert.equal(
    canonicalize({ b: [1, { d: true, c: null }], a: "x" }),
    '{"a":"x","b":[1,{"c":null,"d":true}]}',
  );
});

Deno.test("RFC 8785: numbers in ECMAScript shortest form", () => {
  // Values from RFC 8785 appendix B.
  const cases: Array<[number, string]> = [
    [0, "0"],
    [-0, "0"],
    [1e21, "1e+21"],
    [1e-7, "1e-7"],
    [0.000001, "0.000001"],
    [333333333.33333329, "333333333.3333333"],
    [1e23, "1e+23"],
    [9007199254740992, "9007199254740992"],
    [4.50, "4.5"],
    [2e-3, "0.002"],
  ];
  for (const [n, want] of cases) assert.equal(canonicalize(n), want);
});

Deno.test("RFC 8785: string escapes follow JSON.stringify", () => {
  assert.equal(canonicalize('\u000f\n"\\/\u2028'), '"\\u000f\\n\\"\\\\/\u2028"');
});

Deno.test("inputs with no canonical form are rejected with a typed error", () => {
  assert.throws(() => canonicalize(NaN), CanonicalJsonError);
  assert.throws(() => canonicalize({ a: Infinity }), CanonicalJsonError);
  assert.throws(() => canonicalize("\ud800"), CanonicalJsonError);
  assert.throws(() => canonicalize({ x: 1n }), CanonicalJsonError);
  let deep: unknown = 1;
  for (let i = 0; i <= MAX_CANONICAL_DEPTH + 1; i++) deep = [deep];
  assert.throws(() => canonicalize(deep), CanonicalJsonError);
});

Deno.test("an undefined member is left out; undefined anywhere else has no canonical form", () => {
  assert.equal(canonicalize({ b: 1, u: undefined, a: [null] }), '{"a":[null],"b":1}');
  assert.throws(() => canonicalize([1, undefined]), CanonicalJsonError);
  assert.throws(() => canonicalize(undefined), CanonicalJsonError);
  assert.throws(() => canonicalize({ "\udc00": 1 }), CanonicalJsonError, "lone surrogate key");
});
