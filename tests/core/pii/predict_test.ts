/**
 * The predicted member name (core/pii/secrets.ts): a name compared whole instead of walked must
 * give the scan the full walk gives, at the ends of the text and whatever the bytes are held in.
 */
import assert from "node:assert/strict";
import { scanPii, scrubJsonText } from "../../../core/pii/mod.ts";
import { scanUtf8 } from "../../../core/pii/scan.ts";

const enc = new TextEncoder();
const secretKey = (k: string) => /pass|token|secret/i.test(k);

Deno.test("a short predicted name at the end of an exactly sized body is compared in bounds", () => {
  // The name repeats, so it is predicted; the body ends right after its colon (truncated JSON),
  // in a buffer that ends there too, as the sidecar hands over a request body.
  for (const name of ["", "a", "ab", "abc"]) {
    const text = `[{"${name}":1},{"${name}":1},{"${name}":`;
    const bytes = enc.encode(text);
    const fast = scanUtf8(bytes, bytes.length, { json: true, secretKey }, true, true);
    const full = scanUtf8(bytes, bytes.length, { json: true, secretKey }, true, false);
    assert.deepEqual(fast, full, text);
    assert.equal(scanPii(text, { json: true, secretKey }, bytes).spans.length, 0);
    assert.equal(scrubJsonText(text, undefined, bytes).text, text);
  }
});

Deno.test("every prefix of an array of one shape scans as the full walk scans it", () => {
  // Names of 0-12 bytes, alike in length and in their first or last 4 bytes, one of a pair
  // secret; bodies cut anywhere, each in a buffer of exactly its own length.
  const shapes = [
    ["", "a", "ab"],
    ["abcd", "abce", "name", "nama"],
    ["abcdefgh", "abcdXefgh", "token", "tokex"],
    ["abcdefghijkl", "abcdZZZZijkl", "password", "passworx", "é"],
  ];
  const values = ['"4532015112830366"', "078051120", '"x"', "{}", "[1]", "12"];
  let scans = 0;
  for (const [k, names] of shapes.entries()) {
    const items: string[] = [];
    for (let round = 0; round < 6; round++) {
      // The shape changes mid-array: a name becomes its look-alike, so a prediction misses.
      const shape = names.map((n, j) => (round + j) % 4 === 3 ? names[(j + 1) % names.length] : n);
      items.push(`{${shape.map((n, j) => `"${n}":${values[(round + j + k) % values.length]}`)}}`);
    }
    const body = enc.encode(`{"items":[${items.join(",")}],"ssn":078051120}`);
    for (let cut = 0; cut <= body.length; cut++) {
      const bytes = body.slice(0, cut);
      for (const rule of [secretKey, (k: string) => k.length === 4]) {
        const opts = { json: true, secretKey: rule };
        const fast = scanUtf8(bytes, cut, opts, false, true);
        assert.deepEqual(fast, scanUtf8(bytes, cut, opts, false, false), `cut at ${cut}`);
        scans++;
      }
    }
  }
  assert.ok(scans > 1000);
});

Deno.test("names predicted from earlier scans (the first name, the names after an array) scan as the full walk", () => {
  // One rule for every scan, so what was learnt stays: the first name of the next body and
  // either name after the last member of an element are predicted. The bodies vary which of
  // those comes, and whether it is secret or only alike in length and ends.
  const rule = (k: string) => /^(token|pass)$/.test(k);
  const firsts = ["task", "token", "tosk", "pass", "paxs"];
  const afters = ["shipping", "token", "tokex", "pass", "ship"];
  let scans = 0;
  for (let round = 0; round < 40; round++) {
    const first = firsts[round % firsts.length];
    const after = afters[(round >> 1) % afters.length];
    const items = Array.from({ length: 1 + (round % 3) }, (_, i) => `{"sku":"a${i}","pass":"x"}`);
    const text = `{"${first}":"v","items":[${items.join(",")}],"${after}":"w","n":1}`;
    const bytes = enc.encode(text);
    for (const checkObject of [false, true]) {
      const opts = { json: true, secretKey: rule, checkObject };
      const fast = scanUtf8(bytes, bytes.length, opts, true, true);
      assert.deepEqual(fast, scanUtf8(bytes, bytes.length, opts, true, false), text);
      const secret = [first, after].filter((n) => rule(n)).length + items.length;
      assert.equal(fast.secrets.length, secret, text);
      scans++;
    }
  }
  assert.equal(scans, 80);
});
