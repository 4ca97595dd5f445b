import assert from "node:assert/strict";
import { createLogger, scrub } from "../../../core/log/mod.ts";
import { scrubJsonObjectBytes, scrubJsonText } from "../../../core/pii/mod.ts";
import { CARD_PLACEHOLDER, scrubPiiText, SSN_PLACEHOLDER } from "../../../core/pii/scrub.ts";

Deno.test("JSON redaction keeps valid JSON and quotes redacted numbers", () => {
  const input = '{"card":4532015112830366,"neg":-4111111111111111,"s":"ssn 078-05-1120",' +
    '"4532015112830366":1,"n":[378282246310005]}';
  const { scan, text } = scrubJsonText(input);
  assert.equal(scan.creditCards, 4);
  assert.equal(scan.ssns, 1);
  const parsed = JSON.parse(text);
  assert.deepEqual(parsed, {
    card: CARD_PLACEHOLDER,
    neg: CARD_PLACEHOLDER,
    s: `ssn ${SSN_PLACEHOLDER}`,
    [CARD_PLACEHOLDER]: 1,
    n: [CARD_PLACEHOLDER],
  });
  assert.ok(!/\d{9,}/.test(text));
});

Deno.test("clean JSON comes back as the same string", () => {
  const input = '{"order":"A-1234","amount":12.5,"ts":1700000000000}';
  assert.equal(scrubJsonText(input).text, input);
});

Deno.test("escaped digits are redacted whole", () => {
  const { text } = scrubJsonText('{"a":"x \\u0034532015112830366 y"}');
  assert.equal(JSON.parse(text).a, `x ${CARD_PLACEHOLDER} y`);
});

Deno.test("plain text redaction", () => {
  assert.equal(
    scrubPiiText("card 4532-0151-1283-0366, ssn 078 05 1120."),
    `card ${CARD_PLACEHOLDER}, ssn ${SSN_PLACEHOLDER}.`,
  );
  assert.equal(scrubPiiText("short"), "short");
});

Deno.test("log lines never carry cards or SSNs (the hook is installed on import)", () => {
  const lines: string[] = [];
  const log = createLogger({ service: "t", sink: (l) => lines.push(l) });
  log.info("paid with 4532015112830366", {
    body: { card: "4532 0151 1283 0366", nested: [{ ssn: "078-05-1120" }] },
  });
  const out = lines.join("\n");
  assert.ok(!out.includes("4532"), out);
  assert.ok(!out.includes("078-05"), out);
  assert.ok(out.includes(CARD_PLACEHOLDER) && out.includes(SSN_PLACEHOLDER));
  assert.deepEqual(scrub({ ssn: "078051120" }), { ssn: SSN_PLACEHOLDER });
  assert.deepEqual(scrub({ ssns: ["078051120"] }), { ssns: [SSN_PLACEHOLDER] }, "array items");
  assert.deepEqual(scrub({ order_id: "078051120" }), { order_id: "078051120" }, "no context");
});

Deno.test("JSON bytes are scrubbed as their text is, and decoded only to redact", () => {
  const bodies = [
    '{"order":"A-1234","amount":12.5}',
    '{"card":4532015112830366,"s":"ssn 078-05-1120","password":"hunter2"}',
    '{"note":"😀 карта 4532-0151-1283-0366 ✓","naïve":"ü 078-05-1120 ü"}',
    '{"пароль password":"секрет","keep":"日本語","token":{"a":[1,"4532015112830366"]}}',
    '{"a":"x \\u0034532015112830366 y","é":1}',
  ];
  for (const body of bodies) {
    const bytes = new TextEncoder().encode(body);
    const want = scrubJsonText(body);
    const got = scrubJsonObjectBytes(bytes)!;
    assert.equal(got.text ?? body, want.text, body);
    assert.equal(got.text === undefined, want.text === body, body);
    assert.deepEqual(got.scan.spans, want.scan.spans, body);
    assert.deepEqual(got.scan.secrets, want.scan.secrets, body);
  }
  const deep = new TextEncoder().encode('{"a":'.repeat(10) + "1" + "}".repeat(10));
  // Deeper than allowed: left to the long way, which words the refusal.
  assert.equal(scrubJsonObjectBytes(deep, 5), undefined);
});

Deno.test("a JSON body scanned clean as bytes spares the log scrubber a second scan", () => {
  const clean = '{"order":"ORD-2024-000123","note":"call 555 0100","n":1}';
  scrubJsonObjectBytes(new TextEncoder().encode(clean));
  assert.equal(scrubPiiText(clean), clean);
  // Another text of the same length is still scanned (and redacted).
  const dirty = '{"order":"ORD-2024-000123","note":"078-05-1120 x","n":1}';
  assert.equal(dirty.length, clean.length);
  scrubJsonObjectBytes(new TextEncoder().encode(clean));
  assert.equal(scrubPiiText(dirty), dirty.replace("078-05-1120", SSN_PLACEHOLDER));
  // A body beyond ASCII: its own text passes, a shorter one holding an SSN is still scanned.
  const wide = '{"note":"çà et là, ünd so","n":1}';
  scrubJsonObjectBytes(new TextEncoder().encode(wide));
  assert.equal(scrubPiiText("ssn 078-05-1120"), `ssn ${SSN_PLACEHOLDER}`);
  assert.equal(scrubPiiText(wide), wide);
});

Deno.test("a card written as a number with an exponent is redacted to valid JSON", () => {
  const body = new TextEncoder().encode('{"a":-4.532015112830366e15,"b":4532015112830366.0}');
  const out = scrubJsonObjectBytes(body)!;
  assert.equal(out.scan.creditCards, 2);
  assert.deepEqual(JSON.parse(out.text!), { a: CARD_PLACEHOLDER, b: CARD_PLACEHOLDER });
  const { text } = scrubJsonText('{"a":[4.532015112830366e15]}');
  assert.deepEqual(JSON.parse(text), { a: [CARD_PLACEHOLDER] });
});
