// The /proxy body check taken on bytes against the way it was taken before (decode, scan the
// text, JSON.parse): the same verdict, the same scrubbed text, the same card and SSN flags.
import assert from "node:assert/strict";
import { parseObject } from "../../../core/sidecar/body.ts";
import { scrubJsonText } from "../../../core/pii/mod.ts";
import { type Rng, seeded } from "../../support/prng.ts";

const fatal = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder();
const utf8 = new TextEncoder();

/** What a body check says, in one comparable shape. */
interface Verdict {
  invalid?: string;
  scrubbed?: string;
  clean?: boolean;
  card?: boolean;
  ssn?: boolean;
}

/** The check as it was: decode fatally, scan the text, then parse. */
function theLongWay(bytes: Uint8Array, maxDepth: number): Verdict {
  let text: string;
  try {
    text = fatal.decode(bytes);
  } catch {
    return { invalid: "body is not UTF-8" };
  }
  const { scan, text: scrubbed } = scrubJsonText(text, maxDepth, bytes);
  if (scan.tooDeep) return { invalid: `nesting deeper than ${maxDepth} levels` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { invalid: "body is not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { invalid: "body is not a JSON object" };
  }
  const clean = scrubbed === text;
  return { scrubbed, clean, card: scan.creditCards > 0, ssn: scan.ssns > 0 };
}

/** The check as it is, with an unredacted body's text read from its bytes. */
function theCheck(bytes: Uint8Array<ArrayBuffer>, maxDepth: number): Verdict {
  const p = parseObject(bytes, maxDepth);
  if ("invalid" in p) return { invalid: p.invalid };
  const scrubbed = p.scrubbed ?? lenient.decode(bytes);
  return { scrubbed, clean: p.clean, card: p.card, ssn: p.ssn };
}

const KEYS = ["note", "card", "ssn", "password", "api_key", "token", "é", "名前", "n", "x"];
const STRINGS = [
  "4532015112830366",
  "4532-0151-1283-0366",
  "4532 0151 1283 0366",
  "078-05-1120",
  "078051120",
  "hunter2",
  "naïve café 😀",
  "日本語のテキスト",
  "\\u00e9\\ud83d\\ude00",
  '\\"quoted\\"',
  "card 4111111111111111 in text",
  "Ω 4111 1111 1111 1111 Ω",
  // SSN context 40 characters back: "ssn" lies 32 characters but 62 bytes before the number.
  `ssn ${"é".repeat(30)} 078051120`,
  "",
];
const NUMBERS = ["4532015112830366", "-4532015112830366", "078051120", "12", "-0.5", "1e3"];

function value(r: Rng, depth: number): string {
  const k = depth > 3 ? r.int(3) : r.int(5);
  if (k === 0) return `"${r.pick(STRINGS)}"`;
  if (k === 1) return r.pick(NUMBERS);
  if (k === 2) return r.pick(["true", "null", `"${r.pick(STRINGS)}${r.pick(STRINGS)}"`]);
  if (k === 3) {
    return "[" + Array.from({ length: r.int(4) }, () => value(r, depth + 1)).join(", ") + "]";
  }
  return object(r, depth + 1);
}

function object(r: Rng, depth: number): string {
  const members = Array.from({ length: r.int(5) }, () => `"${r.pick(KEYS)}": ${value(r, depth)}`);
  return "{" + members.join(r.pick([",", ", ", ",\n  "])) + "}";
}

Deno.test("the /proxy body check on bytes says what decoding, scanning and parsing said", () => {
  const r = seeded(0xb0d1);
  let redacted = 0;
  let cases = 0;
  for (let i = 0; i < 4000; i++) {
    const doc = object(r, 0);
    const forms = [doc, `\ufeff${doc}`, ` ${doc} `, `[${doc}]`, doc.slice(0, -1), `${doc}x`];
    for (const form of forms) {
      const bytes = utf8.encode(form);
      for (const depth of [2, 64]) {
        const want = theLongWay(bytes, depth);
        assert.deepEqual(theCheck(bytes, depth), want, `${JSON.stringify(form)} (depth ${depth})`);
        if (want.clean === false) redacted++;
        cases++;
      }
    }
  }
  // Both kinds in numbers: bodies left as sent, and bodies with something redacted.
  assert.ok(redacted > 4000 && cases - redacted > 4000, `${redacted} of ${cases}`);
});
