/**
 * Decimal digits beyond ASCII (Unicode general category Nd: full-width, Arabic-Indic, Devanagari,
 * ...), raw or written as JSON escapes, are digits to the PII scan, as Python's `\d` reads them
 * upstream: a text whose digits are written so gets the verdict the same text with ASCII digits
 * gets, in plain text, in JSON text and in the `/proxy` body check, on the fast path and through
 * the full state machine; and redaction covers them.
 */
import assert from "node:assert/strict";
import {
  escapedWideDigit,
  utf8WideDigit,
  WIDE_DIGIT_LEAD,
  wideDigitValue,
} from "../../../core/pii/chars.ts";
import {
  inspectText,
  scanJsonObjectBytes,
  scrubJsonObjectBytes,
  scrubJsonText,
} from "../../../core/pii/mod.ts";
import { scrubPiiText } from "../../../core/pii/scrub.ts";
import { scanUtf8 } from "../../../core/pii/scan.ts";
import type { ScanOptions } from "../../../core/pii/types.ts";
import { type Rng, seeded } from "../../support/prng.ts";

const enc = new TextEncoder();

/** Zeros of some scripts: 2-, 3- and 4-byte UTF-8, one surrogate pair in UTF-16. */
const SCRIPTS: Record<string, number> = {
  fullwidth: 0xff10,
  arabicIndic: 0x660,
  extendedArabicIndic: 0x6f0,
  nko: 0x7c0,
  devanagari: 0x966,
  bengali: 0x9e6,
  thai: 0xe50,
  myanmar: 0x1040,
  mathBold: 0x1d7ce,
  adlam: 0x1e950,
};
const ZEROS = Object.values(SCRIPTS);

/** `text` with every ASCII digit written in the script whose zero is `zero`. */
function script(text: string, zero: number): string {
  return text.replace(/[0-9]/g, (d) => String.fromCodePoint(zero + Number(d)));
}

/** `cp` as a JSON string escape (a surrogate pair beyond the BMP). */
function escape(cp: number): string {
  const s = String.fromCodePoint(cp);
  let out = "";
  for (let k = 0; k < s.length; k++) {
    out += "\\u" + s.charCodeAt(k).toString(16).padStart(4, "0");
  }
  return out;
}

const enc8 = (s: string) => enc.encode(s);

/** The scan both ways (fast path and full state machine), asserting they agree. */
function both(text: string, opts: ScanOptions) {
  const b = enc8(text);
  const ascii = b.length === text.length;
  const fast = scanUtf8(b, b.length, opts, ascii, true);
  const full = scanUtf8(b, b.length, opts, ascii, false);
  assert.deepEqual(fast, full, `fast path and state machine: ${JSON.stringify(text)}`);
  return fast;
}

/** Cards and SSNs found in `text`, as plain text and as a JSON string value, every way. */
function verdict(text: string, key = "note"): string {
  const plain = both(text, {});
  const json = JSON.stringify({ [key]: text });
  const inJson = both(json, { json: true });
  const checked = scanJsonObjectBytes(enc8(json), { json: true, checkObject: true });
  assert.ok(checked, `one JSON object: ${json}`);
  const same = `${checked.creditCards}/${checked.ssns}`;
  assert.equal(`${inJson.creditCards}/${inJson.ssns}`, same, `JSON modes agree: ${json}`);
  return `text ${plain.creditCards}/${plain.ssns} json ${same}`;
}

Deno.test("the digit table is exactly Unicode's decimal digits beyond ASCII, each with its value", () => {
  const nd = /\p{Nd}/u;
  let count = 0;
  for (let cp = 0x80; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const v = wideDigitValue(cp);
    const isDigit = nd.test(String.fromCodePoint(cp));
    assert.equal(v >= 0, isDigit, `U+${cp.toString(16)}`);
    if (!isDigit) continue;
    count++;
    // Runs of ten in order from their zero: the one before is the value before (or a 9, or none).
    const before = wideDigitValue(cp - 1);
    assert.ok(v === 0 ? before === -1 || before === 9 : before === v - 1, `U+${cp.toString(16)}`);
    const bytes = enc8(String.fromCodePoint(cp));
    assert.equal(WIDE_DIGIT_LEAD[bytes[0]], 1, `lead byte of U+${cp.toString(16)}`);
    assert.equal(utf8WideDigit(bytes, 0, bytes.length), v | (bytes.length << 4));
  }
  assert.ok(count >= 640, `${count} digits`);
  for (const [cp, v] of [[0xff14, 4], [0x664, 4], [0x96a, 4], [0x1d7d2, 4], [0x669, 9]]) {
    assert.equal(wideDigitValue(cp), v, `U+${cp.toString(16)}`);
  }
  for (let c = 0x30; c <= 0x39; c++) assert.equal(wideDigitValue(c), -1, "ASCII is read elsewhere");
  // Overlong, cut and broken sequences are no digit (a decoder reads U+FFFD there).
  for (
    const bytes of [[0xef, 0xbc], [0xef, 0xbc, 0x20], [0xf0, 0x8f, 0xbc, 0x94], [0xd9, 0x41]]
  ) {
    assert.equal(utf8WideDigit(new Uint8Array(bytes), 0, bytes.length), -1, String(bytes));
  }
  const pair = enc8(escape(0x1d7d2));
  assert.equal(escapedWideDigit(pair, 0, pair.length, 0xd835), 4 | (12 << 4));
});

Deno.test("a card or an SSN in full-width, Arabic-Indic, Devanagari and other digits is found", () => {
  const cases: [string, string][] = [
    ["4532015112830366", "text 1/0 json 1/0"],
    ["card 4532 0151 1283 0366 thanks", "text 1/0 json 1/0"],
    ["4532-0151-1283-0366", "text 1/0 json 1/0"],
    ["amex 378282246310005", "text 1/0 json 1/0"],
    ["1234-5678-9012-3456", "text 0/0 json 0/0"], // fails Luhn, in any script
    ["4532015112830367", "text 0/0 json 0/0"],
    ["078-05-1120", "text 0/1 json 0/1"],
    ["078 05 1120", "text 0/1 json 0/1"],
    ["my ssn is 078051120", "text 0/1 json 0/1"],
    ["order 078051120", "text 0/0 json 0/0"], // 9 digits without SSN context
    ["ssn 000123456", "text 0/0 json 0/0"], // area 000 is never issued
    ["v4532015112830366", "text 0/0 json 0/0"], // glued to a letter
    ["4d7-4532015112830366", "text 0/0 json 0/0"], // a code, not a label
    ["d7-4532015112830366", "text 1/0 json 1/0"], // a label
    ["0.4532015112830366", "text 0/0 json 0/0"], // a decimal
  ];
  for (const [ascii, expected] of cases) {
    assert.equal(verdict(ascii), expected, ascii);
    for (const [name, zero] of Object.entries(SCRIPTS)) {
      assert.equal(verdict(script(ascii, zero)), expected, `${name}: ${ascii}`);
    }
  }
  // Under an SSN member name, a bare 9 digits in any script is an SSN.
  assert.equal(verdict(script("078051120", 0xff10), "ssn"), "text 0/0 json 0/1");
});

Deno.test("digits of several scripts and ASCII mixed in one number are read by their values", () => {
  const mixed = [
    "4532\uff10\uff11\uff15\uff11\u0661\u0662\u0668\u0663\u0966\u0969\u096c\u096c", // 4532 0151 1283 0366
    "\uff14\uff15\uff13\uff12 0151 \u0661\u0662\u0668\u0663 \u{1d7ce}\u{1d7d1}\u{1d7d4}\u{1d7d4}",
    "45\u0663\u0662-\u09661\u096b1-1\uff12\uff18\uff13-0\u{1e953}66",
  ];
  for (const text of mixed) assert.equal(verdict(text), "text 1/0 json 1/0", text);
  assert.equal(verdict("0\u0667\u096e-\uff10\uff15-1120"), "text 0/1 json 0/1");
});

Deno.test("digits written as JSON escapes (\\uff14, \\u0664, a surrogate pair) are judged", () => {
  const card = "4532015112830366";
  for (const zero of ZEROS) {
    // Every digit escaped, every other one escaped, and the escapes mixed with raw wide digits.
    const all = [...card].map((d) => escape(zero + Number(d))).join("");
    const alternate = [...card].map((d, k) => k % 2 ? escape(zero + Number(d)) : d).join("");
    const mixed = [...card].map((d, k) =>
      k % 3 === 0
        ? escape(zero + Number(d))
        : k % 3 === 1
        ? String.fromCodePoint(zero + Number(d))
        : d
    ).join("");
    for (const digits of [all, alternate, mixed]) {
      const four = [..."4532"].map((d) => escape(zero + Number(d))).join("");
      for (const value of [digits, `card: ${four} x`]) {
        const json = `{"n":"${value}"}`;
        const expected = value === digits ? 1 : 0;
        assert.equal(both(json, { json: true }).creditCards, expected, json);
        const checked = scanJsonObjectBytes(enc8(json), { json: true, checkObject: true });
        assert.equal(checked?.creditCards, expected, json);
      }
      const scrubbed = scrubJsonObjectBytes(enc8(`{"n":"pay ${digits} now"}`));
      assert.deepEqual(JSON.parse(scrubbed!.text!), { n: "pay [CREDIT_CARD_REDACTED] now" });
    }
  }
  // SSNs, with escaped SSN context too; and a member name that is no SSN leaves 9 digits alone.
  const ssn = [..."078051120"].map((d) => escape(0xff10 + Number(d))).join("");
  assert.equal(both(`{"note":"s\\u0073n ${ssn}"}`, { json: true }).ssns, 1);
  assert.equal(both(`{"ssn":"${ssn}"}`, { json: true }).ssns, 1);
  assert.equal(both(`{"order":"${ssn}"}`, { json: true }).ssns, 0);
  const dashed = "078-05-1120".replace(/[0-9]/g, (d) => escape(0x966 + Number(d)));
  assert.equal(both(`{"order":"${dashed}"}`, { json: true }).ssns, 1);
  // A high surrogate escape that is not followed by its pair is no digit.
  const broken = [...card].map((d) => escape(0x1d7ce + Number(d)).slice(0, 6)).join("");
  assert.equal(both(`{"n":"${broken}"}`, { json: true }).creditCards, 0);
});

Deno.test("what the scan blocks, the payload scrub and the log scrubber redact: no digit left", () => {
  const wideDigit = /(?![0-9])\p{Nd}/u;
  for (const zero of ZEROS) {
    const card = script("4532 0151 1283 0366", zero);
    const ssn = script("078-05-1120", zero);
    const body = JSON.stringify({ a: `card ${card}.`, b: { c: [ssn] }, keep: script("12", zero) });
    const fast = scrubJsonObjectBytes(enc8(body));
    assert.equal(fast?.scan.creditCards, 1);
    assert.equal(fast?.scan.ssns, 1);
    const expected = {
      a: "card [CREDIT_CARD_REDACTED].",
      b: { c: ["[SSN_REDACTED]"] },
      keep: script("12", zero),
    };
    assert.deepEqual(JSON.parse(fast!.text!), expected);
    assert.deepEqual(JSON.parse(scrubJsonText(body).text), expected);
    const line = `request blocked: card ${card}, ssn ${ssn}`;
    for (const scrubbed of [scrubPiiText(line), inspectText(line).text]) {
      assert.equal(scrubbed, "request blocked: card [CREDIT_CARD_REDACTED], ssn [SSN_REDACTED]");
      assert.ok(!wideDigit.test(scrubbed));
    }
    assert.deepEqual(
      { card: inspectText(line).card, ssn: inspectText(line).ssn },
      { card: true, ssn: true },
    );
  }
});

// The differential test: random texts built of numbers (cards, SSNs, ids, phone numbers,
// decimals), separators, SSN context, letters and non-ASCII words, judged with ASCII digits and
// again with each digit written in a random script (raw, or escaped in JSON): same verdict.
const NUMBERS = [
  "4532015112830366",
  "4532 0151 1283 0366",
  "4532-0151-1283-0366",
  "378282246310005",
  "3782 822463 10005",
  "5018646679090",
  "6011111111111117",
  "4532015112830367",
  "1234 5678 9012 3456",
  "4532 0151 1283 0366 2024",
  "1700000000000",
  "078051120",
  "078-05-1120",
  "078 05 1120",
  "900701234",
  "123-45-678",
  "12",
  "2024",
  "5",
  "0.45",
  "3.14159265358979",
  "+14155550123",
];
const FILLERS = [
  " ",
  "-",
  ".",
  ", ",
  "ssn ",
  "SSN: ",
  "social security ",
  "card ",
  "id ",
  "d7-",
  "v",
  "_",
  "é",
  "日本",
  "٫",
  "x",
];

function randomText(rng: Rng): string {
  let out = "";
  const parts = 1 + rng.int(6);
  for (let k = 0; k < parts; k++) {
    out += rng.next() < 0.5 ? rng.pick(NUMBERS) : rng.pick(FILLERS);
    // Numbers glued to others, or a digit of their own, now and then.
    if (rng.next() < 0.15) out += String(rng.int(10));
  }
  return out;
}

/** `text` with each ASCII digit, at random, kept or written in a random script. */
function rewrite(rng: Rng, text: string, escapes: boolean): string {
  return text.replace(/[0-9]/g, (d) => {
    const r = rng.next();
    if (r < 0.25) return d;
    const cp = rng.pick(ZEROS) + Number(d);
    return escapes && r < 0.5 ? escape(cp) : String.fromCodePoint(cp);
  });
}

/** `text` (JSON text) with the escapes of digits beyond ASCII written as ASCII digits. */
function asciiDigits(text: string): string {
  return text.replace(
    /(?:\\u[dD][89abAB][0-9a-fA-F]{2}\\u[0-9a-fA-F]{4}|\\u[0-9a-fA-F]{4})/g,
    (e) => {
      const s = JSON.parse(`"${e}"`) as string;
      return /^\p{Nd}$/u.test(s) && !/^[0-9]$/.test(s)
        ? String(wideDigitValue(s.codePointAt(0)!))
        : e;
    },
  ).replace(/(?![0-9])\p{Nd}/gu, (d) => String(wideDigitValue(d.codePointAt(0)!)));
}

const kinds = (r: { spans: { kind: string }[] }) => r.spans.map((s) => s.kind).join(",");

Deno.test("with digits of any script or ASCII mixed at random, the verdict is that of ASCII digits", () => {
  const rng = seeded(8_2026);
  let found = 0;
  for (let round = 0; round < 4000; round++) {
    const ascii = randomText(rng);
    const key = rng.pick(["note", "ssn", "n"]);
    // Plain text (a log line).
    const wide = rewrite(rng, ascii, false);
    const want = both(ascii, {});
    const got = both(wide, {});
    assert.equal(
      kinds(got),
      kinds(want),
      `${JSON.stringify(wide)} against ${JSON.stringify(ascii)}`,
    );
    assert.equal(asciiDigits(scrubPiiText(wide)), scrubPiiText(ascii), JSON.stringify(wide));
    found += want.spans.length;
    // A JSON body (a /proxy body), digits raw or escaped.
    const body = JSON.stringify({ [key]: ascii, list: [ascii, true] });
    const wideBody = rewrite(rng, body, true);
    const jsonWant = both(body, { json: true });
    const jsonGot = both(wideBody, { json: true });
    assert.equal(kinds(jsonGot), kinds(jsonWant), `${wideBody} against ${body}`);
    const checked = scanJsonObjectBytes(enc8(wideBody), { json: true, checkObject: true });
    assert.ok(checked, wideBody);
    assert.equal(kinds(checked), kinds(jsonWant), wideBody);
    const scrubbed = scrubJsonObjectBytes(enc8(wideBody));
    const text = scrubbed?.text ?? wideBody;
    assert.equal(asciiDigits(text), scrubJsonText(body).text, wideBody);
  }
  assert.ok(found > 500, `the texts hold findings (${found})`);
});
