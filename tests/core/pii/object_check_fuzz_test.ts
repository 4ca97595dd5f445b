// A differential fuzzer for the PII scan's check that a body is one JSON object (its fast path and
// its full state machine alike): seeded generated documents, their mutations and hand-picked hard
// inputs, each judged by a fatal UTF-8 decode plus JSON.parse.
import assert from "node:assert/strict";
import { type Rng, seeded } from "../../support/prng.ts";
import {
  NOT_OBJECT,
  OBJECT_ASCII,
  OBJECT_UTF8,
  objectShape as jsonObjectBytes,
  reference,
  utf8,
} from "./object_reference.ts";

/** Whether decoding and parsing `b` yields a non-array, non-null object. */
function isObjectReference(b: Uint8Array): boolean {
  return reference(b) !== NOT_OBJECT;
}

/** A running comparison: every input goes through {@linkcode Tally.check}. */
class Tally {
  cases = 0;
  objects = 0;
  /** Objects the check answered NOT_OBJECT for (a fast path missed, not a wrong answer). */
  missed: Uint8Array[] = [];
  notObjects = 0;

  /** Checks one input; a wrong answer fails the test with the input shown. */
  check(b: Uint8Array): void {
    this.cases++;
    const got = jsonObjectBytes(b);
    const want = isObjectReference(b);
    const ascii = b.every((x) => x < 0x80);
    if (want) this.objects++;
    else this.notObjects++;
    const shown = () => `${JSON.stringify(Array.from(b.subarray(0, 200)))} (${b.length} bytes)`;
    if (got === NOT_OBJECT) {
      if (want) this.missed.push(b);
      return;
    }
    assert.ok(want, `said ${got} (an object) for a non-object: ${shown()}`);
    if (got === OBJECT_ASCII) assert.ok(ascii, `OBJECT_ASCII for non-ASCII ${shown()}`);
    else {
      assert.equal(got, OBJECT_UTF8, `unknown answer ${got}`);
      assert.ok(!ascii, `OBJECT_UTF8 for all-ASCII ${shown()}`);
    }
  }
}

const WS = [" ", "\t", "\n", "\r", "", "", "", "  \r\n\t"];
const NUMBER_FORMS = [
  "0",
  "-0",
  "7",
  "-7",
  "123456789",
  "0.5",
  "-0.0",
  "3.14159",
  "1e5",
  "1E5",
  "1e+5",
  "1e-5",
  "1E-0",
  "-2.5e+300",
  "1e400",
  "-1e-400",
  "12345678901234567890123",
  "0e0",
  "9007199254740993",
];
const HEX = "0123456789abcdefABCDEF";

function ws(r: Rng): string {
  return r.next() < 0.6 ? "" : r.pick(WS);
}

function number(r: Rng): string {
  if (r.next() < 0.5) return r.pick(NUMBER_FORMS);
  let s = r.next() < 0.3 ? "-" : "";
  s += r.next() < 0.2 ? "0" : String(1 + r.int(9)) + String(r.int(100000)).slice(0, r.int(6));
  if (r.next() < 0.4) s += "." + String(r.int(1000000));
  if (r.next() < 0.4) s += r.pick(["e", "E"]) + r.pick(["", "+", "-"]) + String(r.int(400));
  return s;
}

/** One character of string content, as JSON text (escapes included). */
function stringChar(r: Rng): string {
  const k = r.int(12);
  if (k < 4) return String.fromCharCode(0x20 + r.int(0x5f)).replace(/["\\]/, "q");
  if (k === 4) return r.pick(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"]);
  if (k === 5) return "\\u" + Array.from({ length: 4 }, () => r.pick([...HEX])).join("");
  if (k === 6) { // surrogates by escape: paired, lone high, lone low, reversed
    const hi = "\\u" + (0xd800 + r.int(0x400)).toString(16);
    const lo = "\\u" + (0xdc00 + r.int(0x400)).toString(16).toUpperCase();
    return r.pick([hi + lo, hi, lo, lo + hi, hi + "x"]);
  }
  if (k === 7) return String.fromCharCode(0x80 + r.int(0x780)); // 2 bytes
  if (k === 8) { // 3 bytes, not a surrogate
    const c = 0x800 + r.int(0xf800 - 0x800);
    return String.fromCharCode(c >= 0xd800 && c < 0xe000 ? c + 0x800 : c);
  }
  if (k === 9) return String.fromCodePoint(0x10000 + r.int(0x100000)); // 4 bytes
  if (k === 10) return r.pick(["\u00a0", "\u2028", "\u2029", "\ufeff", "\u007f", "\uffff"]);
  return r.pick(["4532015112830366", "078-05-1120", " ", "é", "😀"]);
}

function jsonString(r: Rng): string {
  let s = '"';
  const n = r.int(r.next() < 0.8 ? 8 : 40);
  for (let i = 0; i < n; i++) s += stringChar(r);
  return s + '"';
}

/** A valid JSON value. */
function value(r: Rng, depth: number): string {
  const k = depth > 5 ? r.int(4) : r.int(7);
  if (k === 0) return jsonString(r);
  if (k === 1) return number(r);
  if (k === 2) return r.pick(["true", "false", "null"]);
  if (k === 3) return jsonString(r);
  if (k === 4 || k === 5) return object(r, depth);
  const items = Array.from({ length: r.int(5) }, () => ws(r) + value(r, depth + 1) + ws(r));
  return "[" + (items.length === 0 ? ws(r) : items.join(",")) + "]";
}

function object(r: Rng, depth: number): string {
  const items = Array.from(
    { length: r.int(5) },
    () => ws(r) + jsonString(r) + ws(r) + ":" + ws(r) + value(r, depth + 1) + ws(r),
  );
  return "{" + (items.length === 0 ? ws(r) : items.join(",")) + "}";
}

/** A valid document: mostly an object, sometimes another value (which must be told apart). */
function document(r: Rng): string {
  const top = r.next() < 0.85 ? object(r, 0) : value(r, 0);
  return ws(r) + top + ws(r);
}

/** Bytes worth inserting: JSON's own, controls, odd whitespace, broken and whole UTF-8. */
const NOISE = [
  ...'{}[]",:\\/-+.eE0123456789tfnulrbx '.split("").map((c) => c.charCodeAt(0)),
  0x00,
  0x01,
  0x08,
  0x09,
  0x0a,
  0x0b,
  0x0c,
  0x0d,
  0x1f,
  0x7f,
  0x80,
  0x9f,
  0xa0,
  0xbf,
  0xc0,
  0xc1,
  0xc2,
  0xdf,
  0xe0,
  0xed,
  0xef,
  0xf0,
  0xf4,
  0xf5,
  0xf8,
  0xfe,
  0xff,
];

/** Byte sequences a fatal decoder refuses (overlongs, surrogates, > U+10FFFF, strays, cut). */
const BAD_UTF8 = [
  [0xc0, 0x80],
  [0xc0, 0xaf],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xe0, 0x9f, 0xbf],
  [0xf0, 0x80, 0x80, 0x80],
  [0xf0, 0x8f, 0xbf, 0xbf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xaf, 0xbf],
  [0xed, 0xb0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf7, 0xbf, 0xbf, 0xbf],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
  [0x80],
  [0xbf],
  [0x80, 0x80],
  [0xc3],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xc3, 0x41],
  [0xe2, 0x41, 0x82],
  [0xf0, 0x9f, 0x41, 0x80],
  [0xfe],
  [0xff],
];

/** Mutations of `base`: flips, deletions, insertions, replacements, duplications, splices. */
function mutate(r: Rng, base: Uint8Array): Uint8Array {
  const b = Array.from(base);
  const at = r.int(b.length + 1);
  switch (r.int(8)) {
    case 0: // flip one bit
      if (b.length > 0) b[Math.min(at, b.length - 1)] ^= 1 << r.int(8);
      break;
    case 1:
      b.splice(at, 1 + r.int(3));
      break;
    case 2:
      b.splice(at, 0, r.pick(NOISE));
      break;
    case 3:
      if (b.length > 0) b[Math.min(at, b.length - 1)] = r.next() < 0.5 ? r.pick(NOISE) : r.int(256);
      break;
    case 4: { // duplicate a run of bytes in place
      const len = 1 + r.int(4);
      b.splice(at, 0, ...b.slice(at, at + len));
      break;
    }
    case 5:
      b.splice(at, 0, ...r.pick(BAD_UTF8));
      break;
    case 6: // move a byte
      if (b.length > 1) b.splice(r.int(b.length), 0, ...b.splice(Math.min(at, b.length - 1), 1));
      break;
    default:
      b.length = at;
  }
  return new Uint8Array(b);
}

/** Generated documents per run (each also mutated several ways). */
const ROUNDS = 3000;

Deno.test("json object fuzz: generated documents and their mutations", () => {
  const r = seeded(0x5eed_0006);
  const t = new Tally();
  for (let round = 0; round < ROUNDS; round++) {
    const base = utf8.encode(document(r));
    t.check(base);
    for (let m = 0; m < 8; m++) t.check(mutate(r, base));
    // Two and three mutations at once.
    t.check(mutate(r, mutate(r, base)));
    t.check(mutate(r, mutate(r, mutate(r, base))));
    // Every truncation of a few of them (and every single-byte deletion).
    if (round % 50 === 0) {
      for (let n = 0; n <= base.length; n++) t.check(base.subarray(0, n));
      for (let n = 0; n < base.length; n++) {
        t.check(new Uint8Array([...base.subarray(0, n), ...base.subarray(n + 1)]));
      }
    }
  }
  // Generated documents are valid and mostly objects: every one the check missed is a bug
  // of speed only, but there should be none here (no BOM, no deep nesting).
  assert.deepEqual(t.missed.map((b) => new TextDecoder().decode(b)), []);
  assert.ok(t.objects > 2 * ROUNDS && t.notObjects > 5 * ROUNDS, `${t.objects}/${t.cases}`);
});

/** `{"k":"<seq>"}` as bytes. */
function inString(seq: readonly number[]): Uint8Array {
  return new Uint8Array([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, ...seq, 0x22, 0x7d]);
}

Deno.test("json object fuzz: every one- and two-byte string content, and UTF-8 boundaries", () => {
  const t = new Tally();
  for (let a = 0; a < 256; a++) {
    t.check(new Uint8Array([a]));
    t.check(inString([a]));
    for (let b = 0; b < 256; b++) {
      t.check(inString([a, b]));
      if (a < 0x80) t.check(new Uint8Array([0x7b, a, b, 0x7d])); // between tokens
    }
  }
  // Three- and four-byte sequences around every boundary the decoder draws.
  const edges = [0x00, 0x22, 0x41, 0x5c, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
  for (let lead = 0x80; lead < 0x100; lead++) {
    for (const b1 of edges) {
      for (const b2 of edges) {
        t.check(inString([lead, b1, b2]));
        t.check(inString([lead, b1])); // cut short by the quote
        if (lead >= 0xf0) { for (const b3 of edges) t.check(inString([lead, b1, b2, b3])); }
      }
    }
  }
  for (let lead = 0xc2; lead < 0xf5; lead++) { // cut short by the end of input
    const n = lead < 0xe0 ? 1 : lead < 0xf0 ? 2 : 3;
    for (let k = 0; k < n; k++) {
      t.check(new Uint8Array([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, lead, ...Array(k).fill(0x80)]));
    }
  }
  for (const seq of BAD_UTF8) {
    t.check(inString(seq));
    t.check(new Uint8Array([0x7b, 0x22, ...seq, 0x22, 0x3a, 0x31, 0x7d])); // in a member name
    t.check(new Uint8Array([0x7b, 0x7d, ...seq])); // after the object
    t.check(new Uint8Array([...seq, 0x7b, 0x7d])); // before it
  }
  assert.ok(t.objects > 10_000 && t.notObjects > 10_000, `${t.objects}/${t.cases}`);
});

Deno.test("json object fuzz: hand-picked hard inputs", () => {
  const t = new Tally();
  const texts: string[] = [
    "",
    " ",
    "{",
    "}",
    "{}",
    "{}}",
    "{}{}",
    "{},",
    "{} x",
    "{}\u0000",
    "[{}]",
    "null",
    '"{}"',
    "{,}",
    '{"a":1,}',
    '{"a":[1,]}',
    '{"a":[,1]}',
    '{"a" 1}',
    '{"a"::1}',
    '{"a":1 , "b" : 2 }',
    '{"a":1}garbage',
    '{"a":1}\n\n',
    '{"a":1}\u000b',
    '{"a":1}\u000c',
    "\u000c{}",
    "\u000b{}",
    "\u00a0{}",
    "{\u00a0}",
    '{"a":\u00a01}',
    "\u2028{}",
    "\ufeff{}",
    "\ufeff\ufeff{}",
    '{"a":"\ufeff"}',
    "{\ufeff}",
    '{"\\u0000":1}',
    '{"a":"\\uD800"}',
    '{"a":"\\uDC00\\uD800"}',
    '{"a":"\\uD83D\\uDE00"}',
    '{"a":"\\ud83d\\u"}',
    '{"a":"\\U0041"}',
    '{"a":"\\u004"}',
    '{"a":"\\u 041"}',
    '{"a":"\\\'"}',
    '{"a":"\\a"}',
    '{"a":"\\',
    '{"a":"\\"}',
    '{"a":"\\\\"}',
    '{"a":"\u007f"}',
    '{"__proto__":{"x":1}}',
    '{"constructor":1,"toString":2}',
  ];
  for (let c = 0; c < 0x20; c++) texts.push(`{"a":"x${String.fromCharCode(c)}y"}`);
  const numbers = [
    "0",
    "-0",
    "00",
    "01",
    "-01",
    "-",
    "--1",
    "+1",
    "1.",
    "-1.",
    ".1",
    "1.e5",
    "1e",
    "1E",
    "1e+",
    "1E+",
    "1e-",
    "1e+-1",
    "1e1.5",
    "1.5.5",
    "0x10",
    "1_000",
    "Infinity",
    "-Infinity",
    "NaN",
    "1e99999999999999",
    "-1e-99999999999999",
    "1" + "0".repeat(400),
    "0." + "0".repeat(400) + "1",
    "0.0e-0",
    "-0.0E+0",
    "1 2",
  ];
  for (const n of numbers) {
    texts.push(`{"n":${n}}`, `{"n":[${n}]}`, `{"n":${n}`, `{"n":[${n},${n}]}`);
  }
  for (const lit of ["true", "false", "null"]) {
    for (let k = 0; k <= lit.length; k++) texts.push(`{"v":${lit.slice(0, k)}}`);
    texts.push(`{"v":${lit}x}`, `{"v":${lit.toUpperCase()}}`, `{"v":${lit}${lit}}`);
  }
  for (const text of texts) t.check(utf8.encode(text));
  // A byte order mark: raw bytes, doubled, and bad bytes that look like one.
  const bom = [0xef, 0xbb, 0xbf];
  t.check(new Uint8Array([...bom, 0x7b, 0x7d]));
  t.check(new Uint8Array([...bom, ...bom, 0x7b, 0x7d]));
  t.check(new Uint8Array([0xef, 0xbb, 0x7b, 0x7d]));
  t.check(new Uint8Array([0x20, ...bom, 0x7b, 0x7d]));
  t.check(new Uint8Array([0x7b, 0x7d, ...bom]));
  assert.ok(t.objects > 30 && t.notObjects > 150, `${t.objects}/${t.cases}`);
});

Deno.test("json object fuzz: nesting around the depth the check tracks", () => {
  const t = new Tally();
  const r = seeded(256);
  for (let d = 240; d <= 270; d++) {
    for (const shape of ["arrays", "objects", "mixed"]) {
      let open = "";
      let close = "";
      for (let k = 0; k < d; k++) {
        const obj = shape === "objects" || (shape === "mixed" && r.next() < 0.5);
        open += obj ? '{"k":' : "[";
        close = (obj ? "}" : "]") + close;
      }
      // As the whole body, and as a member's value; well formed, one closer short, one extra.
      for (const inner of [open + "1" + close, open + "1" + close.slice(1), open + close + "]"]) {
        t.check(utf8.encode(`{"v":${inner}}`));
        t.check(utf8.encode(inner));
        t.check(utf8.encode(`{"a":[],"v":${inner},"z":{}}`));
      }
    }
  }
  // Deep nesting followed by garbage: the check must not lose its place in the stack.
  t.check(utf8.encode('{"a":' + "[".repeat(256) + "]".repeat(256) + "}"));
  t.check(utf8.encode('{"a":' + "[".repeat(255) + "]".repeat(255) + "}"));
  t.check(utf8.encode('{"a":' + "[".repeat(255) + "}" + "]".repeat(254) + "}"));
  t.check(utf8.encode("[".repeat(300) + "]".repeat(300)));
  assert.ok(t.objects > 100 && t.notObjects > 100, `${t.objects}/${t.cases}`);
});

/** A body an agent is likely to be sent: a chat request, a tool call, a form. */
function realistic(r: Rng): string {
  const words = ["hello", "world", "Grüße", "naïve", "日本語", "привет", "emoji 😀", "Ω", "ok"];
  const sentence = () => Array.from({ length: 1 + r.int(12) }, () => r.pick(words)).join(" ");
  const k = r.int(3);
  let body: Record<string, unknown>;
  if (k === 0) {
    const messages = Array.from({ length: 1 + r.int(4) }, () => ({
      role: r.pick(["user", "assistant", "system"]),
      content: sentence() + (r.next() < 0.2 ? '\n\t"quoted" \\ path' : ""),
    }));
    body = { model: "gpt-x", messages, temperature: r.next(), max_tokens: r.int(4096) };
  } else if (k === 1) {
    body = {
      tool: r.pick(["search", "book_flight", "refund"]),
      arguments: { query: sentence(), limit: r.int(50), exact: r.next() < 0.5, at: null },
      trace: Array.from({ length: r.int(5) }, () => r.int(1e9) / 1e3),
    };
  } else {
    body = { name: sentence(), amount: -r.int(100000) / 100, tags: [], meta: {}, ok: true };
  }
  const pretty = r.next() < 0.3 ? r.pick([2, "\t"]) : undefined;
  return JSON.stringify(body, null, pretty);
}

Deno.test("json object fuzz: realistic bodies take the fast path", () => {
  const r = seeded(42);
  const t = new Tally();
  for (let i = 0; i < 5000; i++) t.check(utf8.encode(realistic(r)));
  // Every realistic body is an object, and the check knows it: no missed fast path.
  assert.equal(t.objects, t.cases);
  assert.equal(t.missed.length, 0, `missed ${t.missed.length} of ${t.cases}`);
});
