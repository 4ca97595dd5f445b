// The PII scan's walk checks that a body is one JSON object, reading a string's bytes a word at a
// time: on seeded bodies with long strings, whose every lane meets a quote, an escape, a control
// character, DEL or non-ASCII bytes (whole, broken, overlong), it answers as the byte-level check
// the sidecar ran before (tests/core/pii/reference/json_object_bytes.ts), also over a buffer at an
// odd offset.
import assert from "node:assert/strict";
import { objectShape as jsonObjectBytes } from "./object_reference.ts";
import { jsonObjectBytes as jsonObjectBytesBefore } from "./reference/json_object_bytes.ts";
import { type Rng, seeded } from "../../support/prng.ts";

const enc = new TextEncoder();

// String contents: plain runs of every length mod 4, then bytes that stop a word.
const CONTENT: (string | number[])[] = [
  "a",
  "ab",
  "abc",
  "abcd",
  "Item number 0 with a descriptive name",
  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  " ~!#$%&'()*+,-./0123456789:;<=>?@[]^_`{|}",
  '\\"',
  "\\\\",
  "\\/",
  "\\n",
  "\\u0034",
  "\\u00e9",
  "\\uD83D\\uDE00",
  "\\x",
  "\\u12g4",
  "é",
  "€",
  "😀",
  "\uFEFF",
  [0x7f],
  [0x00],
  [0x09],
  [0x0a],
  [0x1f],
  [0x80],
  [0xa2],
  [0xdc],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xc3],
  [0xff],
];
const BETWEEN = [",", ":", " ", "{", "}", "[", "]", "1", "-0.5e3", "true", "null", '"k":'];

function bytesOf(p: string | number[]): number[] {
  return typeof p === "string" ? Array.from(enc.encode(p)) : p;
}

function content(rng: Rng): number[] {
  const out: number[] = [];
  const parts = rng.int(8);
  // Mostly plain, so words are read; now and then a byte that stops them.
  for (let k = 0; k < parts; k++) {
    out.push(...bytesOf(rng.pick(CONTENT.slice(0, rng.int(4) === 0 ? CONTENT.length : 6))));
  }
  return out;
}

/** An object of members whose values are long strings, nested now and then. */
function body(rng: Rng): Uint8Array {
  const out: number[] = rng.int(10) === 0 ? [0xef, 0xbb, 0xbf] : [];
  out.push(0x7b);
  const members = 1 + rng.int(6);
  for (let m = 0; m < members; m++) {
    if (m > 0) out.push(0x2c);
    out.push(0x22, ...content(rng), 0x22, 0x3a);
    if (rng.int(4) === 0) out.push(0x5b, 0x22, ...content(rng), 0x22, 0x5d);
    else out.push(0x22, ...content(rng), 0x22);
    if (rng.int(12) === 0) out.push(...bytesOf(rng.pick(BETWEEN)));
  }
  out.push(0x7d);
  const b = Uint8Array.from(out);
  return rng.int(6) === 0 ? b.subarray(0, rng.int(b.length + 1)) : b;
}

Deno.test("the check with words answers as the check before them", () => {
  const rng = seeded(4242);
  const answers = new Map<number, number>();
  for (let round = 0; round < 20_000; round++) {
    const b = body(rng);
    const want = jsonObjectBytesBefore(b);
    const shown = () => JSON.stringify(Array.from(b));
    assert.equal(jsonObjectBytes(b), want, shown());
    const held = new Uint8Array(b.length + 7);
    held.set(b, 1 + (round % 5));
    const at = held.subarray(1 + (round % 5), 1 + (round % 5) + b.length);
    assert.equal(jsonObjectBytes(at), want, `at an offset: ${shown()}`);
    answers.set(want, (answers.get(want) ?? 0) + 1);
  }
  // Objects (ASCII and not) and refusals all occur.
  for (const shape of [-1, 0, 1]) {
    assert.ok((answers.get(shape) ?? 0) > 300, `${shape}: ${answers.get(shape)}`);
  }
});
