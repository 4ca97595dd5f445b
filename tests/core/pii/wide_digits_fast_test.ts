/**
 * The fast reading of decimal digits beyond ASCII (a run of digits read at once, a digit read
 * from the row of the one before it, the two-level digit table, byte offsets counted a word at a
 * time) against plain references: a digit is what a UTF-8 decoder and `\p{Nd}` make of the bytes
 * (or `JSON.parse` of an escape), the scan's fast path finds what its full state machine finds,
 * and a string offset is the length of what the bytes before it decode to. Over random bodies
 * mixing every script's digits, escapes, cut and broken sequences and invalid UTF-8.
 */
import assert from "node:assert/strict";
import {
  DIGIT_RUN,
  digitRun,
  digitValueAt,
  readDigits,
  utf8WideDigit,
} from "../../../core/pii/chars.ts";
import { scanPii } from "../../../core/pii/mod.ts";
import { scanUtf8 } from "../../../core/pii/scan.ts";
import { scanJsonObjectBytes } from "../../../core/pii/text.ts";
import type { ScanOptions } from "../../../core/pii/types.ts";
import { type Rng, seeded } from "../../support/prng.ts";

const enc = new TextEncoder();
const fatal = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder();
const ND = /^\p{Nd}$/u;

/**
 * The value of the decimal digit at code point `cp` from `\p{Nd}` alone, or -1: Unicode keeps
 * its decimal digits in runs of ten from a zero, and runs that touch are whole, so the value is
 * the distance from the start of the unbroken stretch of digits, modulo ten.
 */
function ndValue(cp: number): number {
  if (!ND.test(String.fromCodePoint(cp))) return -1;
  let start = cp;
  while (start > 0 && ND.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}

const ndCache = new Map<number, number>();
function cachedNdValue(cp: number): number {
  let v = ndCache.get(cp);
  if (v === undefined) ndCache.set(cp, v = ndValue(cp));
  return v;
}

/** Every zero of a run of decimal digits beyond ASCII, found with `\p{Nd}`. */
const ZEROS: number[] = [];
for (let cp = 0x80; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  if (ND.test(String.fromCodePoint(cp)) && cachedNdValue(cp) === 0) ZEROS.push(cp);
}

/**
 * The reference reader of the digit at `b[i]` (before `n`), as {@linkcode digitValueAt} answers:
 * value plus length times 16, or -1. An ASCII digit; 2-4 bytes a fatal decoder reads as one
 * code point that `\p{Nd}` calls a digit; or a JSON `\uXXXX` escape (a surrogate pair of two)
 * that `JSON.parse` reads as one.
 */
function referenceDigit(b: Uint8Array, i: number, n: number): number {
  const c = b[i];
  if (c >= 48 && c <= 57) return (c - 48) | 16;
  if (c >= 0x80) {
    for (let len = 2; len <= 4 && i + len <= n; len++) {
      let s: string;
      try {
        s = fatal.decode(b.subarray(i, i + len));
      } catch {
        continue;
      }
      const cp = s.codePointAt(0)!;
      if (String.fromCodePoint(cp) !== s) continue;
      const v = cachedNdValue(cp);
      return v < 0 ? -1 : v | (len << 4);
    }
    return -1;
  }
  if (c !== 92) return -1;
  for (const len of [12, 6]) {
    if (i + len > n) continue;
    const raw = String.fromCharCode(...b.subarray(i, i + len));
    if (!/^(\\u[0-9a-fA-F]{4})+$/.test(raw)) continue;
    const s = JSON.parse(`"${raw}"`) as string;
    const cp = s.codePointAt(0)!;
    if (String.fromCodePoint(cp) !== s) continue; // a lone surrogate, or two characters
    const v = cp >= 48 && cp <= 57 ? cp - 48 : cachedNdValue(cp);
    return v < 0 ? -1 : v | (len << 4);
  }
  return -1;
}

/** `cp` as a JSON escape (a surrogate pair beyond the BMP), hex digits in either case. */
function escape(rng: Rng, cp: number): number[] {
  const s = String.fromCodePoint(cp);
  let out = "";
  for (let k = 0; k < s.length; k++) {
    const hex = s.charCodeAt(k).toString(16).padStart(4, "0");
    out += "\\u" + (rng.next() < 0.5 ? hex : hex.toUpperCase());
  }
  return [...enc.encode(out)];
}

/** An overlong encoding of `cp` (no digit to a decoder), 3 or 4 bytes. */
function overlong(rng: Rng, cp: number): number[] {
  if (cp < 0x800 && rng.next() < 0.5) {
    return [0xe0, 0x80 | (cp >> 6), 0x80 | (cp & 0x3f)];
  }
  return [0xf0, 0x80 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
}

/**
 * One digit of value `d`, written some way: ASCII, raw in some script, escaped, or (with odds
 * `broken`) broken.
 */
function digit(rng: Rng, d: number, script: number, broken: number): number[] {
  const r = rng.next() * (0.88 + broken);
  const zero = rng.next() < 0.8 ? script : rng.pick(ZEROS);
  if (r < 0.2) return [48 + d];
  if (r < 0.75) return [...enc.encode(String.fromCodePoint(zero + d))];
  if (r < 0.88) return escape(rng, rng.next() < 0.1 ? 48 + d : zero + d);
  const raw = [...enc.encode(String.fromCodePoint(zero + d))];
  const k = rng.next();
  if (k < 0.3) return raw.slice(0, 1 + rng.int(raw.length - 1)); // cut short
  if (k < 0.5) return [...raw.slice(0, 1), 0x80 | rng.int(64), ...raw.slice(1)]; // a byte too many
  if (k < 0.65) return overlong(rng, zero + d);
  if (k < 0.8) return escape(rng, zero + d).slice(0, 6 + rng.int(6)); // a pair cut, or hex cut
  return [0x80 + rng.int(128)]; // a stray byte beyond ASCII
}

const NUMBERS = [
  "4532015112830366",
  "4532 0151 1283 0366",
  "4532-0151-1283-0366",
  "378282246310005",
  "6011111111111117",
  "4532015112830367",
  "078051120",
  "078-05-1120",
  "078 05 1120",
  "900701234",
  "12",
  "2024-05-17",
  "0.45",
  "+14155550123",
  "1000001",
];
const FILLERS = [
  " ",
  "-",
  ".",
  ", ",
  "ssn ",
  "SSN: ",
  "card ",
  "d7-",
  "v",
  "注文",
  "नमस्ते", // Devanagari letters: the lead bytes of Devanagari digits
  "ＡＢ，", // full-width letters and comma: the lead bytes of full-width digits
  "٫",
  "x",
];

/**
 * A piece of text: numbers (each digit written its own way, broken with odds `broken`) and
 * fillers, as bytes.
 */
function piece(rng: Rng, broken: number): number[] {
  const out: number[] = [];
  const parts = 1 + rng.int(6);
  const script = rng.pick(ZEROS);
  for (let k = 0; k < parts; k++) {
    if (rng.next() < 0.55) {
      for (const ch of rng.pick(NUMBERS)) {
        if (ch >= "0" && ch <= "9") out.push(...digit(rng, Number(ch), script, broken));
        else out.push(ch.charCodeAt(0));
      }
    } else {
      out.push(...enc.encode(rng.pick(FILLERS)));
    }
    if (rng.next() < 0.1) out.push(...digit(rng, rng.int(10), script, broken));
  }
  return out;
}

/** A JSON body of random pieces (invalid UTF-8 in it at times). */
function body(rng: Rng): Uint8Array {
  const broken = rng.next() < 0.5 ? 0 : 0.12;
  const key = rng.pick(["note", "ssn", "card", "password"]);
  const parts = [
    ...enc.encode(`{"${key}":"`),
    ...piece(rng, broken),
    ...enc.encode(`","list":["`),
    ...piece(rng, broken),
    ...enc.encode(`",12,{"n":"`),
    ...piece(rng, broken),
    ...enc.encode(`"}]}`),
  ];
  return new Uint8Array(parts);
}

Deno.test("each digit reader answers as a decoder and \\p{Nd} read the bytes", () => {
  assert.ok(ZEROS.length >= 64, `${ZEROS.length} scripts`);
  const rng = seeded(2026_12_07);
  for (let round = 0; round < 1500; round++) {
    const b = new Uint8Array(piece(rng, 0.12));
    const n = b.length;
    const want = Array.from(b, (_, i) => referenceDigit(b, i, n));
    for (let i = 0; i < n; i++) {
      assert.equal(digitValueAt(b, i, n), want[i], `at ${i} of ${JSON.stringify([...b])}`);
      if (b[i] >= 0x80) assert.equal(utf8WideDigit(b, i, n), want[i], `at ${i}`);
      // A run read at once is the digits read one at a time.
      let k = i;
      let raw = 0;
      const values: number[] = [];
      for (; k < n && want[k] >= 0; k += want[k] >> 4) {
        if (b[k] >= 0x80) raw = 1;
        values.push(want[k] & 15);
      }
      assert.equal(digitRun(b, i, n), k, `run at ${i} of ${JSON.stringify([...b])}`);
      assert.deepEqual([...DIGIT_RUN], [values.length, values.at(-1) ?? -1, raw], `run at ${i}`);
      const out = new Uint8Array(24);
      const read = readDigits(b, i, k, n, out, 2, 24);
      assert.equal(read, Math.min(24, 2 + values.length));
      assert.deepEqual([...out.subarray(2, read)], values.slice(0, read - 2), `values at ${i}`);
    }
  }
});

/** The scan both ways, asserting the fast path finds what the full state machine finds. */
function both(b: Uint8Array, opts: ScanOptions, ascii: boolean) {
  const fast = scanUtf8(b, b.length, opts, ascii, true);
  const full = scanUtf8(b, b.length, opts, ascii, false);
  assert.deepEqual(fast, full, `${JSON.stringify(opts)}: ${JSON.stringify([...b])}`);
  return fast;
}

Deno.test("over random bodies of mixed digits, the fast path finds what the state machine finds", () => {
  const rng = seeded(7_2026_12);
  const secretKey = (k: string) => /pass|token|secret|key/i.test(k);
  let findings = 0;
  let objects = 0;
  for (let round = 0; round < 2500; round++) {
    const b = body(rng);
    const ascii = b.every((x) => x < 0x80);
    findings += both(b, { json: true }, ascii).spans.length;
    both(b, { json: true, secretKey }, ascii);
    both(b, {}, ascii);
    const checking = { json: true, checkObject: true, secretKey } as const;
    const full = both(b, checking, false);
    if (full.object && !full.tooDeep) objects++;
    // The fast walk as /proxy runs it answers as the full one (offsets aside: UTF-16 there).
    const fast = scanJsonObjectBytes(b, checking);
    assert.equal(fast !== undefined, full.object === true && !full.tooDeep);
    if (fast) assert.equal(`${fast.creditCards}/${fast.ssns}`, `${full.creditCards}/${full.ssns}`);
  }
  assert.ok(findings > 500, `the bodies hold findings (${findings})`);
  assert.ok(objects > 500, `and many are JSON objects (${objects})`);
});

Deno.test("a finding's string offsets are the lengths of what the bytes before it decode to", () => {
  const rng = seeded(12_07);
  let spans = 0;
  for (let round = 0; round < 2500; round++) {
    // Valid UTF-8 only: a string's own encoding.
    const text = lenient.decode(body(rng));
    const b = enc.encode(text);
    for (const opts of [{ json: true }, {}]) {
      const inBytes = scanUtf8(b, b.length, opts, false);
      const inText = scanPii(text, opts, b);
      const units = (at: number) => lenient.decode(b.subarray(0, at)).length;
      assert.deepEqual(
        inText.spans,
        inBytes.spans.map((s) => ({ ...s, start: units(s.start), end: units(s.end) })),
        text,
      );
      assert.deepEqual(scanPii(text, opts).spans, inText.spans, text);
      spans += inText.spans.length;
    }
  }
  assert.ok(spans > 500, `${spans} spans`);
});
