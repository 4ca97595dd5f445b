/** Chunk-size lines per RFC 9112 §7.1: 1*HEXDIG, then nothing or BWS ";" extensions. */
import assert from "node:assert/strict";
import { HttpClientError } from "../../../../core/http/client/mod.ts";
import { chunkSize } from "../../../../core/http/client/chunked.ts";

const b = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

Deno.test("chunk sizes RFC 9112 §7.1 allows", () => {
  const cases: Array<[string, number]> = [
    ["0", 0],
    ["a", 10],
    ["1F", 31],
    ["0005", 5],
    ["5;name=value", 5],
    ["5 ;name", 5], // BWS before ';'
    ['5;a="q s";b', 5],
    ["fffffffffffff", 0xfffffffffffff],
    // Leading zeros are digits 1*HEXDIG allows; only the significant ones are bounded.
    ["0".repeat(20) + "1f", 31],
    ["0".repeat(20) + "fffffffffffff", 0xfffffffffffff],
  ];
  for (const [line, size] of cases) assert.equal(chunkSize(b(line)), size, line);
});

Deno.test("chunk-size lines RFC 9112 §7.1 forbids", () => {
  for (
    const bad of [
      "",
      " 5",
      "5 junk",
      "-5",
      "+5",
      "0x5",
      "g",
      "5;a\u0000b",
      "5;a\rb",
      "1fffffffffffff", // 14 hex digits: beyond what a length may be
      "0001fffffffffffff", // the same after leading zeros
    ]
  ) {
    assert.throws(
      () => chunkSize(b(bad)),
      (e) => e instanceof HttpClientError && e.kind === "protocol",
      JSON.stringify(bad),
    );
  }
});
