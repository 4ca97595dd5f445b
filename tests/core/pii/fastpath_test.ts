/**
 * The scanner's fast path (core/pii/skip.ts) against its full state machine: whatever the fast
 * path passes over, the state machine must find nothing in, and both must report the same
 * strings, nesting and secret members. Generated JSON and text around the shapes the fast path
 * treats specially, plus the cases it must never skip.
 */
import assert from "node:assert/strict";
import { scanUtf8 } from "../../../core/pii/scan.ts";
import { scanPii } from "../../../core/pii/mod.ts";
import type { ScanOptions } from "../../../core/pii/types.ts";
import { seeded } from "../../support/prng.ts";

const enc = new TextEncoder();
const secretKey = (k: string) => /pass|token|secret/i.test(k);
const idKey = (k: string) => k === "id" || k === "ssn";

/** Both ways over the same bytes; asserts they agree and returns the result. */
function both(text: string, opts: ScanOptions) {
  const b = enc.encode(text);
  const ascii = b.length === text.length;
  const fast = scanUtf8(b, b.length, opts, ascii, true);
  const full = scanUtf8(b, b.length, opts, ascii, false);
  assert.deepEqual(fast, full, `${JSON.stringify(text)} ${JSON.stringify(opts)}`);
  return fast;
}

// Pieces: numbers of every length the rules tell apart, cards and SSNs plain and grouped, the
// separators, JSON structure, escapes (of digits, separators and quotes), non-ASCII text.
const PIECES = [
  "4532015112830366",
  "4532 0151 1283 0366",
  "4532-0151-1283-0366",
  "378282246310005",
  "5018646679090",
  "4532015112830367",
  "1700000000000",
  "078051120",
  "078-05-1120",
  "900701234",
  "1",
  "12",
  "123",
  "1234",
  "12345678",
  "1234567890",
  "12345678901",
  "12345678901234567890",
  " ",
  "-",
  ".",
  "+",
  "_",
  ":",
  ",",
  "x",
  "ssn",
  "card ",
  "Tax ID ",
  "é",
  "€",
  "😀",
  "\uFEFF",
  '"',
  '"',
  '"',
  "{",
  "}",
  "[",
  "]",
  '"ssn":',
  '"password":',
  '"id":',
  '"a b":',
  "\\u0034",
  "\\u0020",
  "\\n",
  '\\"',
  "\\\\",
  "\\u00e9",
  "\\",
  "\\u12",
  "true",
  "null",
  "-4532015112830366",
  // One-letter labels before a hyphen (`d7-`), and codes that are not (`ad7-`, `4d7-`).
  "d7-",
  "ad7-",
  "4d",
];

function generate(next: () => number, pieces: number): string {
  let out = "";
  for (let k = 0; k < pieces; k++) out += PIECES[Math.floor(next() * PIECES.length)];
  return out;
}

Deno.test("the fast path and the full state machine agree on generated text and JSON", () => {
  const next = seeded(18).next;
  let found = 0;
  for (let round = 0; round < 4000; round++) {
    const text = generate(next, 1 + Math.floor(next() * 24));
    for (
      const opts of [
        { json: true, secretKey },
        { json: true, secretKey: idKey },
        { json: true },
        {},
        {
          context: "ssn",
        },
        {
          json: true,
          maxDepth: 3,
          secretKey,
        },
      ]
    ) {
      const r = both(text, opts);
      found += r.creditCards + r.ssns + r.secrets.length;
    }
  }
  assert.ok(found > 1000, `the generated texts hold findings (${found})`);
});

const LOOK_ALIKE: Record<string, string> = {
  id: "ie",
  ie: "id",
  ssn: "ssm",
  ssm: "ssn",
  password: "passwerd",
  passwerd: "password",
  token: "tokex",
  tokex: "token",
  customer_token: "customer_tokex",
  customer_tokex: "customer_token",
};

Deno.test("the fast path and the full state machine agree on well-formed JSON bodies", () => {
  const next = seeded(7).next;
  const values = [
    () => Math.floor(next() * 1e7),
    () => 1_700_000_000_000 + Math.floor(next() * 1e6),
    () => 4_000_000_000_000_000 + Math.floor(next() * 1e6) * 7919,
    () => String(4_000_000_000_000_000 + Math.floor(next() * 1e6) * 7919),
    () => (next() * 1e4).toFixed(2),
    () => Math.floor(next() * 1e8) / 100,
    () => 100_000_000 + Math.floor(next() * 9e8),
    () => [4532015112830366, 4532015112830367, 0.5, 123456789][Math.floor(next() * 4)],
    () => `+1-555-${1000 + Math.floor(next() * 9000)}`,
    () => "2024-05-17 10:30:00",
    () => "4532 0151 1283 0366",
    () => "078-05-1120",
    () => `café ${Math.floor(next() * 1e9)} ü`,
    () => ({ token: "4532015112830366", n: [1, 2, "3"] }),
  ];
  // Names alike in length and first or last bytes, one of each pair secret to one of the rules.
  const names = [
    "id",
    "ie",
    "ssn",
    "ssm",
    "ref",
    "password",
    "passwerd",
    "token",
    "tokex",
    "xtoken",
    "customer_token",
    "customer_tokex",
    "",
    "é",
    "4532015112830366",
    'a"b',
    "tax\\id",
  ];
  for (let round = 0; round < 500; round++) {
    const item: Record<string, unknown> = {};
    for (let k = 0; k < 8; k++) {
      item[names[Math.floor(next() * names.length)]] = values[Math.floor(next() * values.length)]();
    }
    // The next object has the same names or their look-alikes: a name predicted from the last
    // object may be its look-alike, which must not be passed over as the predicted one.
    const twin = Object.fromEntries(
      Object.entries(item).map(([k, v]) => [next() < 0.5 ? (LOOK_ALIKE[k] ?? k) : k, v]),
    );
    const items = [item, twin, item, twin];
    const body = JSON.stringify({ items }, null, round % 3 === 0 ? 1 : undefined);
    both(body, { json: true, secretKey });
    both(body, { json: true, secretKey: idKey });
    // Checking that the body is one object too: numbers are then read whole where they start.
    both(body, { json: true, secretKey: idKey, checkObject: true });
  }
});

Deno.test("short digit runs a space follows in strings scan as the full state machine scans them", () => {
  // The string loop passes a run of up to 8 digits that a space and no digit or escape follow
  // (`3 items`) without a call: around it every kind of byte before and after, and the cards and
  // SSNs (whole, grouped by spaces, escaped) that may start right after the space.
  const before = ["", "a", "d", "ad", "+", "_", " ", "-", ".", "é", "x ", "4d"];
  const after = [
    "",
    "x",
    "items",
    " ",
    "  4532015112830366",
    "-",
    ".",
    "é",
    '\\"',
    "\\u0034532015112830366",
    "\\n",
    "4532015112830366",
    "0151 1283 0366",
    "05 1120",
    "078-05-1120",
    "x 4532015112830366",
    "x 078-05-1120",
    "ssn 078051120",
  ];
  const next = seeded(41).next;
  for (const b of before) {
    for (const a of after) {
      for (let len = 1; len <= 10; len++) {
        let digits = "";
        for (let k = 0; k < len; k++) digits += String(Math.floor(next() * 10));
        for (const text of [`{"a":"${b}${digits} ${a}"}`, `{"a":"${b}${digits} ${a}`]) {
          both(text, { json: true, secretKey });
          both(text, { json: true, secretKey: idKey, checkObject: true });
          both(text, { json: true, context: "ssn" });
        }
      }
    }
  }
  // What the space hides nothing of: a card or an SSN right after it is found.
  const json = (text: string) => both(text, { json: true, secretKey });
  assert.equal(json('{"a":"3 4532015112830366"}').creditCards, 1);
  assert.equal(json('{"a":"3 items 4532015112830366"}').creditCards, 1);
  assert.equal(json('{"a":"12 \\u0034532015112830366"}').creditCards, 1);
  assert.equal(json('{"a":"078 05 1120"}').ssns, 1);
});

Deno.test("what the fast path may not pass over is found", () => {
  const json = (text: string) => both(text, { json: true, secretKey });
  // A card inside a longer digit run is no card; a whole card after short numbers is one.
  assert.equal(json('{"a":"145320151128303661"}').creditCards, 0);
  assert.equal(json('{"a":"12 4532015112830366"}').creditCards, 1);
  // Split by separators, and by escaped separators and digits.
  assert.equal(json('{"a":"4532 0151 1283 0366"}').creditCards, 1);
  assert.equal(json('{"a":"4532-0151-1283-0366"}').creditCards, 1);
  assert.equal(json('{"a":"4532\\u00200151\\u00201283\\u00200366"}').creditCards, 1);
  assert.equal(json('{"a":"\\u0034532015112830366"}').creditCards, 1);
  assert.equal(json('{"a":"453201511283036\\u0036"}').creditCards, 1);
  // In member names, quoted or with spaces, and after a name's escaped quote.
  assert.equal(json('{"4532015112830366":1}').creditCards, 1);
  assert.equal(json('{"x\\"4532015112830366":1}').creditCards, 1);
  // A bare number value, negative, and one right before the closing brace.
  assert.equal(json('{"a":4532015112830366}').creditCards, 1);
  assert.equal(json('{"a":-4532015112830366,"b":1}').creditCards, 1);
  // At the ends of the text.
  assert.equal(json("4532015112830366").creditCards, 1);
  assert.equal(json('"4532015112830366').creditCards, 1);
  assert.equal(both("4532015112830366", {}).creditCards, 1);
  assert.equal(both("x 078-05-1120", {}).ssns, 1);
  // Non-ASCII right around it.
  assert.equal(json('{"a":"é4532015112830366€"}').creditCards, 1);
  assert.equal(json('{"é":"😀 4532 0151 1283 0366 ü"}').creditCards, 1);
  // After a one-letter, one-digit label and a hyphen, as after a word: not after a longer code.
  assert.equal(json('{"a":"d7-4532015112830366"}').creditCards, 1);
  assert.equal(json('{"d7-4532-0151-1283-0366":1}').creditCards, 1);
  assert.equal(both("x1-4532015112830366", {}).creditCards, 1);
  assert.equal(both("ad7-4532015112830366", {}).creditCards, 0);
  assert.equal(json('{"a":"4d7-4532015112830366"}').creditCards, 0);
  // SSNs: separated always, bare with context from the member name or the text before.
  assert.equal(json('{"a":"078-05-1120"}').ssns, 1);
  assert.equal(json('{"ssn":"078051120"}').ssns, 1);
  assert.equal(json('{"ssn":078051120}').ssns, 1);
  assert.equal(json('{"id":078051120}').ssns, 0);
  // Secret members whose value is a string the fast path passes over, at any nesting.
  const body = '{"a":[{"password":"hunter2 ok"},{"b":"x"}],"token":12, "secret" :"s","c":"d"}';
  assert.deepEqual(
    json(body).secrets.map((x) => body.slice(x.start, x.end)),
    ['"hunter2 ok"', "12", '"s"'],
  );
  // Strings and spans keep string offsets around non-ASCII text.
  const text = '{"é":"😀 4532 0151 1283 0366"}';
  const span = scanPii(text, { json: true }).spans[0];
  assert.equal(text.slice(span.start, span.end), "4532 0151 1283 0366");
});

Deno.test("a bare number written with a fraction or an exponent is judged by its value", () => {
  // What a JSON parser reads as the integer 4532015112830366 (a card) or 78051120 (an SSN).
  const cards = [
    "4.532015112830366e15",
    "4.532015112830366E+15",
    "4532015112830366e0",
    "4532015112830366.0",
    "4532015112830366.000",
    "45320151128303.66e2",
    "-4.532015112830366e15",
    "0.4532015112830366e16",
    "453201511283036.6E1",
    "4532015112830366000e-3",
  ];
  for (const n of cards) {
    for (const checkObject of [false, true]) {
      const text = `{"a":${n},"b":[1.5, ${n} ]}`;
      const r = both(text, { json: true, checkObject });
      assert.equal(r.creditCards, 2, `${text} checkObject=${checkObject}`);
      assert.deepEqual(
        r.spans.map((s) => [text.slice(s.start, s.end), s.inString]),
        [[n.replace(/^-/, ""), false], [n.replace(/^-/, ""), false]],
        text,
      );
      assert.equal(r.object, checkObject ? true : undefined);
    }
  }
  for (const n of ["1.23456789e8", "123456789.0", "12345678.9e1"]) {
    assert.equal(both(`{"ssn":${n}}`, { json: true, checkObject: true }).ssns, 1, n);
    assert.equal(both(`{"ssn":${n}}`, { json: true }).ssns, 1, n);
    assert.equal(both(`{"qty":${n}}`, { json: true, checkObject: true }).ssns, 0, n);
  }
  // Not an integer, not a card number, or not a bare number: nothing.
  const none = [
    "0.4532015112830366",
    "4532015112830366.5",
    "4.532015112830366e14",
    "4.532015112830367e15",
    "4.532015112830366e16",
    "4.532015112830366e99999999",
    "4.532015112830366e-15",
    "1.5e300",
    "0.0e20",
    '"4.532015112830366e15"',
  ];
  for (const n of none) {
    for (const checkObject of [false, true]) {
      const r = both(`{"a":${n}}`, { json: true, checkObject });
      assert.equal(r.creditCards + r.ssns, 0, `${n} checkObject=${checkObject}`);
    }
  }
});
