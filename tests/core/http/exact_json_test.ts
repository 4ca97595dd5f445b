/** Exact JSON input: what the ledger accepts is what it stores; the rest is refused by path. */
import assert from "node:assert/strict";
import { HttpError } from "../../../core/errors/mod.ts";
import { ExactJsonError, parseExactJson, readExactJson } from "../../../core/http/exact_json.ts";

const enc = new TextEncoder();
const parse = (text: string) => parseExactJson(enc.encode(text));

function refused(input: string | Uint8Array, path: string, reason: RegExp): void {
  const bytes = typeof input === "string" ? enc.encode(input) : input;
  assert.throws(
    () => parseExactJson(bytes),
    (e) => e instanceof ExactJsonError && e.path === path && reason.test(e.reason),
    `${typeof input === "string" ? input : "bytes"} -> ${path} ${reason}`,
  );
}

Deno.test("valid JSON parses exactly as JSON.parse does", () => {
  const texts = [
    '{"a":1,"b":[true,false,null],"c":{"d":"e\\n\\u00e9\\ud83d\\ude00\\/"},"f":-2.5e-3}',
    "[]",
    "{}",
    ' \t\n\r{ "a" : [ 1 , 2 ] } \n',
    '"just a string"',
    "42",
    "9007199254740992", // 2^53 is exactly a double
    "-9007199254740991",
    "0.1",
    "1.7976931348623157e308",
    "5e-324",
    '{"emoji":"😀","accents":"àé","cjk":"漢字"}',
    `${"[".repeat(64)}${"]".repeat(64)}`,
  ];
  for (const t of texts) assert.deepEqual(parse(t), JSON.parse(t), t);
});

Deno.test("random documents agree with JSON.parse", () => {
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const gen = (depth: number): unknown => {
    switch (depth > 3 ? rnd(4) : rnd(6)) {
      case 0:
        return rnd(2) === 0;
      case 1:
        return rnd(1_000_000) - 500_000 + (rnd(2) === 0 ? 0 : rnd(1000) / 8);
      case 2:
        return String.fromCharCode(...Array.from({ length: rnd(8) }, () => 32 + rnd(0x3000)));
      case 3:
        return null;
      case 4:
        return Array.from({ length: rnd(4) }, () => gen(depth + 1));
      default:
        return Object.fromEntries(
          Array.from({ length: rnd(4) }, (_, i) => [`k${i}`, gen(depth + 1)]),
        );
    }
  };
  for (let i = 0; i < 500; i++) {
    const text = JSON.stringify(gen(0));
    assert.deepEqual(parse(text), JSON.parse(text), text);
  }
});

Deno.test("numbers: the same value in another spelling is accepted, a changed value is not", () => {
  assert.equal(parse("1.0"), 1);
  assert.equal(parse("1e0"), 1);
  assert.equal(parse("100e-2"), 1);
  assert.ok(Object.is(parse("-0"), -0), "-0 is zero; canonical JSON writes it as 0");
  refused('{"n":9007199254740993}', "$.n", /exactly/);
  refused('{"n":123456789012345678901234567890}', "$.n", /exactly/);
  refused('{"n":0.10000000000000000001}', "$.n", /exactly/);
  refused('{"n":[1,1e400]}', "$.n[1]", /out of range/);
  refused('{"n":-1e400}', "$.n", /out of range/);
  refused('{"n":1e-400}', "$.n", /exactly/);
});

Deno.test("strings: lone surrogates, control characters and bad escapes are refused", () => {
  refused('{"a":{"b":"\\ud800"}}', "$.a.b", /lone UTF-16 surrogate/);
  refused('{"a":"\\udc00x"}', "$.a", /lone UTF-16 surrogate/);
  refused('{"a":"\\ud800\\u0041"}', "$.a", /lone UTF-16 surrogate/);
  refused('{"a":"\\ud800x"}', "$.a", /lone UTF-16 surrogate/);
  refused('{"\\ud800":1}', "$", /lone UTF-16 surrogate/);
  refused('{"a":"x\ty"}', "$.a", /control character/);
  refused('{"a":"\\x41"}', "$.a", /invalid escape/);
  refused('{"a":"\\u12g4"}', "$.a", /invalid \\u escape/);
});

Deno.test("invalid UTF-8 is refused naming the field it sits in", () => {
  const bytes = (prefix: string, bad: number[], suffix: string) =>
    new Uint8Array([...enc.encode(prefix), ...bad, ...enc.encode(suffix)]);
  refused(
    bytes('{"payload":{"note":"ab', [0xff], 'c"}}'),
    "$.payload.note",
    /invalid UTF-8 at byte 22/,
  );
  refused(bytes('{"a":["x', [0xc3, 0x28], '"]}'), "$.a[0]", /invalid UTF-8/);
  refused(bytes('{"a":"', [0xed, 0xa0, 0x80], '"}'), "$.a", /invalid UTF-8/); // encoded surrogate
  refused(bytes('{"a":"', [0xc0, 0xaf], '"}'), "$.a", /invalid UTF-8/); // overlong
  refused(bytes('{"a":"', [0xf4, 0x90, 0x80, 0x80], '"}'), "$.a", /invalid UTF-8/); // > U+10FFFF
  refused(bytes('{"a":1}', [0xff], ""), "$", /invalid UTF-8 at byte 7/);
});

Deno.test("__proto__ and duplicate member names are refused, never dropped", () => {
  refused('{"__proto__":{"x":1},"a":1}', "$.__proto__", /__proto__/);
  refused('{"payload":{"deep":[{"__proto__":1}]}}', "$.payload.deep[0].__proto__", /__proto__/);
  refused('{"a":1,"a":2}', "$.a", /duplicate/);
  refused('{"p":{"x y":1,"x y":1}}', '$.p["x y"]', /duplicate/);
  assert.deepEqual(parse('{"constructor":1,"toString":2}'), { constructor: 1, toString: 2 });
});

Deno.test("structure: depth, truncation and trailing data", () => {
  refused(`{"a":${"[".repeat(64)}${"]".repeat(64)}}`, "$.a" + "[0]".repeat(63), /deeper than 64/);
  refused('{"a":[1,2', "$.a", /cut short/);
  refused('{"a":"xy', "$.a", /cut short/);
  refused('{"a":tru', "$.a", /cut short/);
  refused("", "$", /cut short/);
  refused('{"a":1} x', "$", /data after/);
  refused('{"a":01}', "$", /expected ','/);
  refused("{'a':1}", "$", /member name/);
  refused('{"a":NaN}', "$.a", /not JSON/);
});

Deno.test("readExactJson: a body that cannot be read in full is a 400, not a crash", async () => {
  const broken = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(enc.encode('{"a":'));
      c.error(new Error("connection reset"));
    },
  });
  const req = new Request("http://x/", { method: "POST", body: broken });
  await assert.rejects(
    readExactJson(req),
    (e) => e instanceof HttpError && e.status === 400 && e.extra.field === "$",
  );
  const bad = new Request("http://x/", { method: "POST", body: '{"n":1e400}' });
  await assert.rejects(
    readExactJson(bad),
    (e) => e instanceof HttpError && e.status === 400 && e.extra.field === "$.n",
  );
  const good = new Request("http://x/", { method: "POST", body: '{"n":1.0}' });
  assert.deepEqual(await readExactJson(good), { n: 1 });
});
