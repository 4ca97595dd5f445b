/**
 * The scanner reads UTF-8 bytes while callers hold strings: offsets must come back as string
 * offsets whatever the text holds (accents, CJK, emoji, lone surrogates), whichever way the
 * string was encoded (short ASCII copy, reused buffer, own buffer, the caller's bytes), and
 * context windows count characters, not bytes.
 */
import assert from "node:assert/strict";
import { isSensitiveKey } from "../../../core/log/mod.ts";
import { inspectText, scanPii, scrubJsonText } from "../../../core/pii/mod.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const found = (text: string, opts = {}) =>
  scanPii(text, opts).spans.map((s) => [s.kind, text.slice(s.start, s.end)]);

Deno.test("offsets are string offsets around non-ASCII text, at every text size", () => {
  const unit = "é日😀\ud800 card 4532 0151 1283 0366, ssn 078-05-1120. ";
  // 1 unit: the ASCII copy; 40: the reused buffer; 2000: a buffer of its own.
  for (const repeat of [1, 40, 2000]) {
    const text = unit.repeat(repeat);
    const spans = found(text);
    assert.equal(spans.length, 2 * repeat, `x${repeat}`);
    for (let i = 0; i < spans.length; i += 2) {
      assert.deepEqual(spans[i], ["credit_card", "4532 0151 1283 0366"]);
      assert.deepEqual(spans[i + 1], ["ssn", "078-05-1120"]);
    }
  }
  const ascii = "card 4532015112830366 ".repeat(1000);
  assert.equal(found(ascii).length, 1000);
  assert.deepEqual(found(ascii).at(-1), ["credit_card", "4532015112830366"]);
});

Deno.test("redaction around non-ASCII keys and values keeps the text around it", () => {
  const body = JSON.stringify({
    "naïve_ключ": "😀 4532-0151-1283-0366 ✓",
    "пароль password": "секрет",
    ssn: 78051120,
    "социальный ssn": 78051120,
    n: 4532015112830366,
  });
  const { text, scan } = scrubJsonText(body);
  assert.deepEqual(JSON.parse(text), {
    "naïve_ключ": "😀 [CREDIT_CARD_REDACTED] ✓",
    "пароль password": "[REDACTED]",
    ssn: 78051120, // 8 digits: not an SSN
    "социальный ssn": 78051120,
    n: "[CREDIT_CARD_REDACTED]",
  });
  assert.equal(scan.creditCards, 2);
  assert.deepEqual(inspectText("ñ 078-05-1120 ñ").text, "ñ [SSN_REDACTED] ñ");
});

Deno.test("the caller's UTF-8 bytes give the same scan as the string, byte order mark or not", () => {
  const text = '{"ключ":"4532 0151 1283 0366","token":"t","ssn":"078051120","x":"é"}';
  const opts = { json: true, secretKey: isSensitiveKey };
  const expected = scanPii(text, opts);
  assert.equal(expected.spans.length, 2);
  assert.equal(expected.secrets.length, 1);
  assert.deepEqual(scanPii(text, opts, utf8(text)), expected);
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(text)]);
  // A decoder drops the mark: the offsets still point into the string it returned.
  assert.equal(new TextDecoder().decode(bom), text);
  assert.deepEqual(scanPii(text, opts, bom), expected);
  const kept = `\ufeff${text}`;
  const withMark = scanPii(kept, opts, bom);
  assert.equal(kept.slice(withMark.spans[0].start, withMark.spans[0].end), "4532 0151 1283 0366");
  assert.deepEqual(scrubJsonText(text, undefined, utf8(text)), scrubJsonText(text));
});

Deno.test("the SSN context window counts characters, not bytes", () => {
  // 30 two-byte characters between the word and the number: 60 bytes, 36 characters.
  const near = `ssn ${"é".repeat(30)} 078051120`;
  assert.equal(scanPii(near).ssns, 1);
  const far = `ssn ${"é".repeat(40)} 078051120`;
  assert.equal(scanPii(far).ssns, 0, "beyond the window");
  const json = JSON.stringify({ note: `SSN ${"日".repeat(30)} 078051120` });
  assert.equal(scanPii(json, { json: true }).ssns, 1);
});

Deno.test("remembered key verdicts belong to their rule and see through escapes", () => {
  const body = '{"password":"a","pass\\u0077ord":"b","user":"c","user":"d"}';
  const byDefault = scanPii(body, { json: true, secretKey: isSensitiveKey });
  assert.equal(byDefault.secrets.length, 2);
  const users = scanPii(body, { json: true, secretKey: (k) => k === "user" });
  assert.deepEqual(users.secrets.map((s) => body.slice(s.start, s.end)), ['"c"', '"d"']);
  const again = scanPii(body, { json: true, secretKey: isSensitiveKey });
  assert.deepEqual(again.secrets, byDefault.secrets);
  // Many distinct names (more than the memo holds) still each get the rule's verdict.
  const names = Array.from({ length: 500 }, (_, i) => (i % 7 === 0 ? `token${i}` : `k${i}`));
  const many = JSON.stringify(Object.fromEntries(names.map((n) => [n, 1])));
  for (let round = 0; round < 2; round++) {
    const r = scanPii(many, { json: true, secretKey: isSensitiveKey });
    assert.equal(r.secrets.length, names.filter((n) => n.startsWith("token")).length);
  }
  const long = `{"${"x".repeat(100)}_token":"v","${"x".repeat(100)}_other":"w"}`;
  assert.equal(scanPii(long, { json: true, secretKey: isSensitiveKey }).secrets.length, 1);
});

Deno.test("bytes that start with more than one byte order mark: offsets still point into the string", () => {
  const body = '{"card":"4532 0151 1283 0366","password":"hunter22","ssn":"078051120"}';
  const opts = { json: true, secretKey: isSensitiveKey };
  for (const marks of [1, 2, 3]) {
    const bytes = new Uint8Array([...Array(marks).fill([0xef, 0xbb, 0xbf]).flat(), ...utf8(body)]);
    // A decoder drops the first mark and keeps the others; with ignoreBOM it keeps them all.
    for (const ignoreBOM of [false, true]) {
      const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM }).decode(bytes);
      const label = `${marks} marks, ignoreBOM ${ignoreBOM}`;
      assert.deepEqual(scanPii(text, opts, bytes), scanPii(text, opts), label);
      assert.deepEqual(scrubJsonText(text, undefined, bytes), scrubJsonText(text), label);
    }
  }
});
