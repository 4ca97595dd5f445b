// The scanner's JSON string loop reads four bytes at a time: its word test against the byte
// classes for every byte in every lane, and the whole scan against the scanner before words
// (tests/core/pii/reference) and against the full state machine on seeded generated bodies.
import assert from "node:assert/strict";
import { CLASSES_JSON_STRING, PLAIN, plainStringWord, wordView } from "../../../core/pii/chars.ts";
import { scanUtf8 } from "../../../core/pii/scan.ts";
import type { ScanOptions } from "../../../core/pii/types.ts";
import { scanUtf8 as scanUtf8Before } from "./reference/scan.ts";
import { type Rng, seeded } from "../../support/prng.ts";

const enc = new TextEncoder();

/** The word test byte by byte: all four bytes plain in a JSON string. */
function plainBytes(w: number): boolean {
  for (let k = 0; k < 4; k++) {
    if (CLASSES_JSON_STRING[(w >>> (8 * k)) & 0xff] !== PLAIN) return false;
  }
  return true;
}

Deno.test("the word test says plain exactly when each of its four bytes is plain", () => {
  const rng = seeded(91);
  // Fillers around the byte under test: plain ASCII, bytes whose low 7 bits look like a quote,
  // a backslash or a digit, and the extremes.
  const fillers = [0x61, 0x20, 0x7f, 0x80, 0xa2, 0xdc, 0xb5, 0xff, 0x00, 0x22, 0x5c, 0x35];
  let plain = 0;
  for (let lane = 0; lane < 4; lane++) {
    for (let c = 0; c < 256; c++) {
      for (const f of fillers) {
        let w = 0;
        for (let k = 0; k < 4; k++) w |= (k === lane ? c : f) << (8 * k);
        assert.equal(plainStringWord(w), plainBytes(w), `word 0x${(w >>> 0).toString(16)}`);
        if (plainBytes(w)) plain++;
      }
    }
  }
  for (let round = 0; round < 200_000; round++) {
    const w = (rng.int(0x10000) << 16) | rng.int(0x10000);
    assert.equal(plainStringWord(w), plainBytes(w), `word 0x${(w >>> 0).toString(16)}`);
  }
  assert.ok(plain > 1000, `the cases hold plain words (${plain})`);
});

// Pieces of string contents: plain runs of every length (so an interesting byte falls in each
// lane of a word), cards and SSNs plain and grouped, escapes forming digits and quotes,
// non-ASCII text and invalid UTF-8 whose low 7 bits look like a quote, a backslash or a digit.
const TEXT_PIECES: (string | number[])[] = [
  "a",
  "ab",
  "abc",
  "Leave at the door",
  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  " ",
  "-",
  ".",
  "+",
  "_",
  ":",
  "4532015112830366",
  "4532 0151 1283 0366",
  "4532-0151-1283-0366",
  "4532015112830367",
  "1700000000000",
  "078-05-1120",
  "078051120",
  "ssn ",
  "card ",
  "d7-",
  "ad7-",
  "12",
  "12345",
  "\\u0034",
  "\\u0035\\u0033",
  '\\"',
  "\\\\",
  "\\n",
  "\\u00e9",
  "é",
  "€",
  "😀",
  "\uFEFF",
  [0xa2],
  [0xdc],
  [0xb0, 0xb9],
  [0xc3, 0xa2],
  [0xe2, 0x82],
  [0xff],
];
// Pieces between strings: structure, members (secret-looking and not), numbers of every shape.
const JSON_PIECES = [
  '{"',
  '"}',
  '","',
  '":"',
  '", "password": "',
  '", "api_token":"',
  '", "ssn": "',
  '", "note": "',
  '":',
  "[",
  "]",
  "{",
  "}",
  ",",
  ":",
  "4532015112830366",
  "-12.5e+3",
  "0",
  "1e9",
  "123456789",
  "true",
  "null",
  '"',
  '"notes":"',
  '"id":"',
];

function piece(rng: Rng, pieces: readonly (string | number[])[]): number[] {
  const p = rng.pick(pieces);
  return typeof p === "string" ? Array.from(enc.encode(p)) : p;
}

/** A JSON-like body: mostly well formed, with long strings, sometimes broken or truncated. */
function body(rng: Rng): Uint8Array {
  const out: number[] = rng.int(8) === 0 ? [0xef, 0xbb, 0xbf] : [];
  out.push(...enc.encode('{"a":"'));
  const parts = 1 + rng.int(30);
  for (let k = 0; k < parts; k++) {
    if (rng.int(4) === 0) out.push(...piece(rng, JSON_PIECES));
    else {
      const run = 1 + rng.int(6);
      for (let r = 0; r < run; r++) out.push(...piece(rng, TEXT_PIECES));
    }
  }
  if (rng.int(3) !== 0) out.push(...enc.encode('"}'));
  const b = Uint8Array.from(out);
  return rng.int(6) === 0 ? b.subarray(0, rng.int(b.length + 1)) : b;
}

const secretKey = (k: string) => /pass|token|secret|ssn/i.test(k);

Deno.test("the scan with words finds what the scan before them and the state machine find", () => {
  const rng = seeded(2026);
  let found = 0;
  for (let round = 0; round < 3000; round++) {
    const b = body(rng);
    const ascii = b.every((x) => x < 0x80);
    // Sometimes inside a longer buffer, as the sidecar's pooled buffers are.
    const held = new Uint8Array(b.length + 8);
    held.set(b, 3);
    const bytes = rng.int(2) === 0 ? b : held.subarray(3, 3 + b.length);
    const optionSets: ScanOptions[] = [
      { json: true, secretKey },
      { json: true },
      { json: true, maxDepth: 2, secretKey },
    ];
    for (const opts of optionSets) {
      const now = scanUtf8(bytes, bytes.length, opts, ascii);
      const before = scanUtf8Before(bytes, bytes.length, opts, ascii);
      const full = scanUtf8(bytes, bytes.length, opts, ascii, false);
      const shown = `${JSON.stringify(Array.from(b))} ${JSON.stringify(opts)}`;
      assert.deepEqual(now, before, shown);
      assert.deepEqual(now, full, shown);
      found += now.creditCards + now.ssns + now.secrets.length;
    }
  }
  assert.ok(found > 1000, `the generated bodies hold findings (${found})`);
});

Deno.test("wordView: one view of exactly a body's bytes, shared while they are the same", () => {
  const pool = new Uint8Array(64);
  const a = pool.subarray(8, 20);
  a.set(new TextEncoder().encode('{"a":"bcde"}'));
  const v = wordView(a);
  assert.equal(v.byteOffset, 8);
  assert.equal(v.byteLength, 12);
  assert.strictEqual(wordView(pool.subarray(8, 20)), v, "the same bytes again: the same view");
  // A view, not a copy: bytes written into the buffer since are what it reads.
  a.set(new TextEncoder().encode('{"z":"yxwv"}'));
  assert.equal(v.getUint8(2), "z".charCodeAt(0));
  // Other bytes of the same buffer get a view of their own, bounded to them.
  const b = pool.subarray(8, 16);
  const w = wordView(b);
  assert.notStrictEqual(w, v);
  assert.equal(w.byteLength, 8);
  assert.throws(() => w.getInt32(6, true), RangeError);
  // A large buffer is viewed as asked, and not kept for the next call.
  const big = new Uint8Array(128 * 1024);
  const x = wordView(big);
  assert.equal(x.byteLength, big.length);
  assert.notStrictEqual(wordView(big), x);
});

Deno.test("wordView: the views of two bodies read by turns are both kept", () => {
  // A proxied request's body and its answer's take two buffers of one pool: consecutive bodies
  // lie in the two by turns.
  const one = new Uint8Array(32);
  const two = new Uint8Array(32);
  const a = wordView(one.subarray(0, 12));
  const b = wordView(two.subarray(0, 12));
  assert.notStrictEqual(a, b);
  assert.strictEqual(wordView(one.subarray(0, 12)), a, "the first body's view again");
  assert.strictEqual(wordView(two.subarray(0, 12)), b, "the second body's view again");
  assert.strictEqual(wordView(one.subarray(0, 12)), a);
  // A third body makes a view of its own, and the view made first is let go.
  const c = wordView(one.subarray(4, 12));
  assert.equal(c.byteOffset, 4);
  assert.equal(c.byteLength, 8);
  assert.strictEqual(wordView(one.subarray(4, 12)), c);
  assert.strictEqual(wordView(two.subarray(0, 12)), b);
  assert.notStrictEqual(wordView(one.subarray(0, 12)), a);
});
