/**
 * Secret members in JSON text: the values under keys the log scrubber calls sensitive are
 * redacted in the same pass that finds cards and SSNs, whatever their type or depth, and the
 * result is what the object-walking scrubber would give.
 */
import assert from "node:assert/strict";
import { isSensitiveKey, scrub } from "../../../core/log/mod.ts";
import { inspectText, scanPii, scrubJsonText } from "../../../core/pii/mod.ts";

Deno.test("values under secret keys become [REDACTED], at any depth and of any type", () => {
  const input = JSON.stringify({
    password: "p1",
    PassWord: "p2",
    passwd: 3,
    api_key: -1.5e3,
    apiKey: ["a", { b: 1 }],
    "x-api-key": "k",
    access_token: { nested: { deep: "t" } },
    credentials: { password: "c1", anything: "c2" },
    list: [{ secret: "s1" }, { cookie: "c" }, { session_id: "i" }],
    authorization: "Bearer abc",
    private_key: "pem",
    token: true,
    secret: null,
    keep: "visible",
    "password_hint_is_secret_too": "h",
  });
  const { text, scan } = scrubJsonText(input);
  const R = "[REDACTED]";
  const expected = {
    password: R,
    PassWord: R,
    passwd: R,
    api_key: R,
    apiKey: R,
    "x-api-key": R,
    access_token: R,
    credentials: R, // credentials.* goes whole
    list: [{ secret: R }, { cookie: R }, { session_id: R }],
    authorization: R,
    private_key: R,
    token: true, // booleans and null say nothing and are kept
    secret: null,
    keep: "visible",
    "password_hint_is_secret_too": R,
  };
  assert.deepEqual(JSON.parse(text), expected);
  assert.deepEqual(scrub(JSON.parse(input)), expected, "the same result as the object scrubber");
  assert.equal(scan.secrets.length, 14);
});

Deno.test("escaped key names and whitespace are seen through; strings are not keys", () => {
  const input = '{ "p\\u0061ssword" :\n "x\\"y" , "list": ["password", "token"], "a":"token" }';
  const out = JSON.parse(scrubJsonText(input).text);
  assert.deepEqual(out, { password: "[REDACTED]", list: ["password", "token"], a: "token" });
});

Deno.test("PII inside a secret value goes with it; PII elsewhere keeps its placeholder", () => {
  const input =
    '{"token":"4532015112830366","card":"4532015112830366","pin":{"ssn":"078-05-1120"},' +
    '"secret":4532015112830366}';
  const { scan, text } = scrubJsonText(input);
  assert.equal(scan.creditCards, 3, "cards under secret keys still count for the block rules");
  assert.deepEqual(JSON.parse(text), {
    token: "[REDACTED]",
    card: "[CREDIT_CARD_REDACTED]",
    pin: { ssn: "[SSN_REDACTED]" },
    secret: "[REDACTED]",
  });
});

Deno.test("without a key rule the scan reports no secrets; plain text has no keys", () => {
  assert.deepEqual(scanPii('{"password":"x"}', { json: true }).secrets, []);
  assert.deepEqual(scanPii('"password":"x"', { secretKey: isSensitiveKey }).secrets, []);
});

Deno.test("inspectText finds and redacts cards and SSNs in plain text", () => {
  assert.deepEqual(inspectText("short"), { card: false, ssn: false, text: "short" });
  assert.deepEqual(inspectText("card 4532-0151-1283-0366 ok"), {
    card: true,
    ssn: false,
    text: "card [CREDIT_CARD_REDACTED] ok",
  });
  assert.deepEqual(inspectText("ssn 078 05 1120"), {
    card: false,
    ssn: true,
    text: "ssn [SSN_REDACTED]",
  });
});
