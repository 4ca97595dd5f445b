// The PII scan's check that a body is one JSON object (its fast path and its full state machine
// alike) against what a fatal UTF-8 decode and JSON.parse say: fixed cases, then generated
// documents and mutations of them (a seeded generator, so every run checks the same bodies).
import assert from "node:assert/strict";
import {
  NOT_OBJECT,
  OBJECT_ASCII,
  OBJECT_UTF8,
  objectShape as jsonObjectBytes,
  reference,
  utf8,
} from "./object_reference.ts";

function bytesOf(s: string | number[]): Uint8Array {
  return typeof s === "string" ? utf8.encode(s) : new Uint8Array(s);
}

Deno.test("json objects are told from everything else, as decoding and parsing tell them", () => {
  const yes = [
    "{}",
    " \t\r\n{ } \n",
    '{"a":1}',
    '{"a":[1,2,{"b":null}],"c":true,"d":false,"e":"x"}',
    '{"n":[-0,0.5,-1.25e-3,1E+9,12e0,0e1]}',
    '{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD800\\udfff"}',
    '{"a":"\x7f"}',
    '{"":{"":[[],{}]}}',
    '{"a":1,"a":2}',
  ];
  for (const s of yes) assert.equal(jsonObjectBytes(bytesOf(s)), OBJECT_ASCII, s);
  assert.equal(jsonObjectBytes(bytesOf('{"é":"😀 ✓"}')), OBJECT_UTF8);
  const no = [
    "",
    " ",
    "[]",
    '"s"',
    "1",
    "null",
    "{",
    "}",
    "{]",
    "[}",
    '{"a":[}]',
    '{"a"}',
    '{"a":}',
    '{"a":1,}',
    '{,"a":1}',
    '{"a":1 "b":2}',
    '{"a":01}',
    '{"a":1.}',
    '{"a":.5}',
    '{"a":-}',
    '{"a":1e}',
    '{"a":+1}',
    '{"a":tru}',
    '{"a":nul}',
    '{"a":True}',
    '{"a":"\\x"}',
    '{"a":"\\u12g4"}',
    '{"a":"\\u12"}',
    '{"a":"\t"}',
    '{"a":"\n"}',
    '{"a":"unterminated}',
    "{} {}",
    "{}x",
    '{"a":1}}',
    "{'a':1}",
    "{a:1}",
    '{"a":NaN}',
    '{"a":Infinity}',
  ];
  for (const s of no) assert.equal(jsonObjectBytes(bytesOf(s)), NOT_OBJECT, JSON.stringify(s));
});

Deno.test("json object check: UTF-8 as a fatal decoder takes it", () => {
  const wrap = (seq: number[]) => [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, ...seq, 0x22, 0x7d];
  const valid = [
    [0xc2, 0x80],
    [0xdf, 0xbf],
    [0xe0, 0xa0, 0x80],
    [0xed, 0x9f, 0xbf],
    [0xee, 0x80, 0x80],
    [0xef, 0xbf, 0xbf],
    [0xf0, 0x90, 0x80, 0x80],
    [0xf4, 0x8f, 0xbf, 0xbf],
  ];
  const invalid = [
    [0x80],
    [0xbf],
    [0xc0, 0xaf],
    [0xc1, 0xbf],
    [0xc2],
    [0xc2, 0x41],
    [0xe0, 0x80, 0x80],
    [0xe0, 0x9f, 0xbf],
    [0xed, 0xa0, 0x80],
    [0xed, 0xbf, 0xbf],
    [0xe1, 0x80],
    [0xf0, 0x80, 0x80, 0x80],
    [0xf0, 0x8f, 0xbf, 0xbf],
    [0xf4, 0x90, 0x80, 0x80],
    [0xf5, 0x80, 0x80, 0x80],
    [0xff],
    [0xfe],
  ];
  for (const seq of valid) {
    const b = bytesOf(wrap(seq));
    assert.equal(reference(b), OBJECT_UTF8, String(seq));
    assert.equal(jsonObjectBytes(b), OBJECT_UTF8, String(seq));
  }
  for (const seq of invalid) {
    const b = bytesOf(wrap(seq));
    assert.equal(reference(b), NOT_OBJECT, String(seq));
    assert.equal(jsonObjectBytes(b), NOT_OBJECT, String(seq));
  }
  // Non-ASCII outside a string is never JSON, even when it is valid UTF-8 (NBSP as space).
  assert.equal(jsonObjectBytes(bytesOf([0x7b, 0xc2, 0xa0, 0x7d])), NOT_OBJECT);
});

Deno.test("json object check: what it cannot tell it leaves to decoding and parsing", () => {
  // A byte order mark, which the decoder drops, and nesting deeper than the check tracks.
  const bom = bytesOf([0xef, 0xbb, 0xbf, ...bytesOf('{"a":1}')]);
  assert.equal(reference(bom), OBJECT_UTF8);
  assert.equal(jsonObjectBytes(bom), NOT_OBJECT);
  const deep = bytesOf('{"a":' + "[".repeat(300) + "]".repeat(300) + "}");
  assert.equal(reference(deep), OBJECT_ASCII);
  assert.equal(jsonObjectBytes(deep), NOT_OBJECT);
  const fits = bytesOf('{"a":' + "[".repeat(255) + "]".repeat(255) + "}");
  assert.equal(jsonObjectBytes(fits), OBJECT_ASCII);
});

/** xorshift32: the same bodies on every run. */
function generator(seed: number) {
  let x = seed;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
  return { next, int: (n: number) => Math.floor(next() * n) };
}

const STRINGS = ["", "a", "é", "😀", "\\n", "\\u0041", "\\ud83d\\ude00", "x y", "4532", '\\"'];
const NUMBERS = ["0", "-0", "1", "-12", "3.25", "1e5", "-2.5E-3", "10e+2", "123456789012345678901"];

function value(r: ReturnType<typeof generator>, depth: number): string {
  const ws = () => [" ", "", "\n", "\t", "\r\n "][r.int(5)];
  const k = depth > 4 ? r.int(5) : r.int(7);
  if (k === 0) return `"${STRINGS[r.int(STRINGS.length)]}"`;
  if (k === 1) return NUMBERS[r.int(NUMBERS.length)];
  if (k === 2) return ["true", "false", "null"][r.int(3)];
  if (k === 3 || k === 4) return `"${STRINGS[r.int(STRINGS.length)]}${r.int(100)}"`;
  const n = r.int(4);
  const items: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = value(r, depth + 1);
    items.push(k === 5 ? `${ws()}"k${r.int(5)}"${ws()}:${ws()}${v}${ws()}` : `${ws()}${v}${ws()}`);
  }
  return k === 5 ? `{${items.join(",")}}` : `[${items.join(",")}]`;
}

/** Bytes worth inserting: JSON's own, controls, and bytes of broken or whole UTF-8. */
const NOISE = [
  ...'{}[]",:\\-+.eE0123456789tfnul '.split("").map((c) => c.charCodeAt(0)),
  0x00,
  0x09,
  0x0a,
  0x0d,
  0x1f,
  0x7f,
  0x80,
  0xbf,
  0xc0,
  0xc3,
  0xe0,
  0xed,
  0xf0,
  0xf4,
  0xf5,
  0xff,
];

Deno.test("json object check agrees with decoding and parsing on generated bodies", () => {
  const r = generator(0x1b873593);
  let objects = 0;
  let checked = 0;
  for (let round = 0; round < 4000; round++) {
    const doc = `{${value(r, 0).length > 0 ? `"v":${value(r, 0)}` : ""}}`;
    const base = utf8.encode(r.int(2) === 0 ? doc : ` ${doc}\n`);
    const variants: Uint8Array[] = [base];
    for (let m = 0; m < 6; m++) {
      const b = Array.from(base);
      const at = r.int(b.length + 1);
      const op = r.int(4);
      if (op === 0) b.splice(at, 1);
      else if (op === 1) b.splice(at, 0, NOISE[r.int(NOISE.length)]);
      else if (op === 2) b[Math.min(at, b.length - 1)] = NOISE[r.int(NOISE.length)];
      else b.length = at;
      variants.push(new Uint8Array(b));
    }
    for (const v of variants) {
      const want = reference(v);
      assert.equal(jsonObjectBytes(v), want, JSON.stringify(new TextDecoder().decode(v)));
      if (want !== NOT_OBJECT) objects++;
      checked++;
    }
  }
  // The generator makes both kinds in numbers (so the comparison can fail either way).
  assert.ok(objects > 4000 && checked - objects > 4000, `${objects} of ${checked}`);
});
