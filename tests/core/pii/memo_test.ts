import assert from "node:assert/strict";
import {
  hasPiiSizedNumber,
  redactPiiNumbers,
  scanPii,
  scrubJsonObjectBytes,
  scrubJsonText,
} from "../../../core/pii/mod.ts";
import { scrubPiiText } from "../../../core/pii/scrub.ts";

Deno.test("a clean JSON scan is also a clean text scan (the scrubPiiText shortcut)", () => {
  const samples = [
    '{"a":"4532 0151 1283 0366 2024","b":[1,2,{"c":"078 05 1120 9"}]}',
    '{"ts":1700000000000,"sku":"SKU-1000","zip":"12345","ref":"ORD-2024-000123"}',
    '{"x":"4532\\u0020015112830366x","y":"a4532015112830366"}',
    '{"p":"+1 555 123 4567","q":"0.4532015112830366"}',
    '["4532","0151","1283","0366"]',
  ];
  for (const s of samples) {
    const json = scanPii(s, { json: true });
    const text = scanPii(s);
    assert.deepEqual(
      json.spans.map((x) => [x.kind, x.start, x.end]),
      text.spans.map((x) => [x.kind, x.start, x.end]),
      s,
    );
  }
  const clean = '{"order":"ORD-2024-000123","note":"call 555 0100"}';
  assert.equal(scrubJsonText(clean).text, clean);
  assert.equal(scrubPiiText(clean), clean);
  const dirty = '{"card":"4532-0151-1283-0366"}';
  const scrubbed = scrubJsonText(dirty).text;
  assert.equal(scrubbed, '{"card":"[CREDIT_CARD_REDACTED]"}');
  assert.equal(
    scrubPiiText(dirty),
    '{"card":"[CREDIT_CARD_REDACTED]"}',
    "dirty text still scanned",
  );
  assert.equal(scrubPiiText("ssn 078-05-1120"), "ssn [SSN_REDACTED]");
});

Deno.test("hasPiiSizedNumber says when redactPiiNumbers would change something", () => {
  const cases: unknown[] = [
    { a: 1, b: "4532015112830366", c: [1.5, -3] },
    { a: [{ b: 4532015112830366 }] },
    { a: 123456789 },
    { a: 12345678 },
    [1, 2, 1e8],
    null,
    "x",
    4532015112830366,
  ];
  for (const v of cases) {
    const changed = JSON.stringify(redactPiiNumbers(v)) !== JSON.stringify(v);
    if (changed) assert.ok(hasPiiSizedNumber(v), JSON.stringify(v));
  }
  assert.equal(hasPiiSizedNumber({ a: 1, b: "4532015112830366", c: [1.5, -3] }), false);
  assert.equal(hasPiiSizedNumber({ a: [{ b: 4532015112830366 }] }), true);
});

Deno.test("the clean-body memo keeps its own copy: bytes reused by the caller are scanned", () => {
  const enc = new TextEncoder();
  const clean = '{"note":"call me","ref":"ORD-2024-000123-xyz"}';
  const card = '{"note":"call me","ref":"4532-0151-1283-0366"}';
  assert.equal(clean.length, card.length);
  // A buffer the caller lends (a connection's body buffer): scanned clean, then reused in place.
  const buf = enc.encode(clean);
  assert.equal(scrubJsonObjectBytes(buf)!.text, undefined);
  buf.set(enc.encode(card));
  const text = new TextDecoder().decode(buf);
  assert.equal(text, card);
  assert.equal(scrubPiiText(text), '{"note":"call me","ref":"[CREDIT_CARD_REDACTED]"}');
  // The body scanned clean is still known clean.
  assert.equal(scrubJsonObjectBytes(enc.encode(clean))!.text, undefined);
  assert.equal(scrubPiiText(clean), clean);
  // A body too long to keep a copy of leaves nothing remembered that could go stale.
  const long = enc.encode(`{"a":"${"x".repeat(40 * 1024)}"}`);
  assert.equal(scrubJsonObjectBytes(long)!.text, undefined);
  long.set(enc.encode(" 4532-0151-1283-0366 "), 10);
  const longText = new TextDecoder().decode(long);
  assert.match(scrubPiiText(longText), /\[CREDIT_CARD_REDACTED\]/);
});

Deno.test("a scan told not to remember its clean body finds the same and leaves no memo of it", () => {
  const enc = new TextEncoder();
  const bodies = [
    '{"note":"call me","ref":"ORD-2024-000123-xyz"}',
    '{"card":"4532-0151-1283-0366","password":"hunter2"}',
    '{"n":[1,2,{"ssn":"078-05-1120"}],"é":"ü"}',
  ];
  for (const body of bodies) {
    const bytes = enc.encode(body);
    const kept = scrubJsonObjectBytes(bytes)!;
    const not = scrubJsonObjectBytes(bytes, undefined, false)!;
    assert.equal(not.text, kept.text, body);
    assert.deepEqual(not.scan.spans, kept.scan.spans, body);
    assert.deepEqual(not.scan.secrets, kept.scan.secrets, body);
  }
  // Remembered: a clean body. Not remembered: another clean one, in a buffer then reused for a
  // text of the same length holding a card, which the log scrubber must still find.
  const clean = '{"note":"call me","ref":"ORD-2024-000123-xyz"}';
  const card = '{"note":"call me","ref":"4532-0151-1283-0366"}';
  const other = '{"note":"call me","ref":"ORD-2024-000999-abc"}';
  assert.equal(scrubJsonObjectBytes(enc.encode(clean))!.text, undefined);
  const buf = enc.encode(other);
  assert.equal(scrubJsonObjectBytes(buf, undefined, false)!.text, undefined);
  buf.set(enc.encode(card));
  assert.equal(
    scrubPiiText(new TextDecoder().decode(buf)),
    '{"note":"call me","ref":"[CREDIT_CARD_REDACTED]"}',
  );
  assert.equal(scrubPiiText(clean), clean);
});
