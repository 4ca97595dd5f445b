import assert from "node:assert/strict";
import { randomUuid, randomUuidCodes, uuidText } from "../../../../core/crypto/uuid/mod.ts";
import { runGcProbe } from "../../../support/gc_probe.ts";

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

Deno.test("randomUuid gives version 4 UUIDs in lower case, none repeated, across many draws", () => {
  const seen = new Set<string>();
  // 256 ids per draw from the system: this crosses 400 draws.
  for (let i = 0; i < 100_000; i++) {
    const id = randomUuid();
    assert.match(id, V4);
    seen.add(id);
  }
  assert.equal(seen.size, 100_000);
});

Deno.test("every random digit of randomUuid takes every value", () => {
  const values = Array.from({ length: 36 }, () => new Set<string>());
  for (let i = 0; i < 4_000; i++) {
    const id = randomUuid();
    for (let c = 0; c < 36; c++) values[c].add(id[c]);
  }
  for (let c = 0; c < 36; c++) {
    const expected = [8, 13, 18, 23].includes(c) ? 1 : c === 14 ? 1 : c === 19 ? 4 : 16;
    assert.equal(values[c].size, expected, `character ${c}: ${[...values[c]].sort().join("")}`);
  }
});

Deno.test("no two random digits of randomUuid come from the same random bits", () => {
  const ids = Array.from({ length: 4_000 }, () => randomUuid());
  const random = [...Array(36).keys()].filter((c) => ![8, 13, 14, 18, 19, 23].includes(c));
  for (const a of random) {
    for (const b of random) {
      if (b <= a) continue;
      const same = ids.filter((id) => id[a] === id[b]).length;
      // About 1 in 16 for independent digits; every one when both came from the same bits.
      assert.ok(same < 500, `characters ${a} and ${b} are equal in ${same} of 4000 ids`);
    }
  }
});

function probe(source: "own" | "runtime"): Promise<{ kept: number; grown: number }> {
  return runGcProbe(new URL("./uuid_probe.ts", import.meta.url), { args: [source] });
}

Deno.test("a kept id holds only its own characters, not a string shared with other ids", async () => {
  // One id kept of every 128 made: crypto.randomUUID's are slices of one 4.6 KB string per 128,
  // so each kept one holds that string (about 4.6 MB for 1,000); ids of their own about 56 KB.
  const own = await probe("own");
  const runtime = await probe("runtime");
  assert.equal(own.kept, 1_000);
  assert.ok(
    own.grown < 500_000,
    `keeping 1,000 ids grew the heap by ${own.grown} bytes (crypto.randomUUID's: ${runtime.grown})`,
  );
});

Deno.test("randomUuidCodes gives a version 4 UUID's char codes, uuidText its string, drawn from the same ids as randomUuid", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 3_000; i++) {
    const codes = randomUuidCodes();
    assert.equal(codes.length, 36);
    const id = uuidText(codes);
    assert.match(id, V4);
    assert.deepEqual(codes, [...id].map((c) => c.charCodeAt(0)));
    seen.add(id);
    seen.add(randomUuid());
  }
  assert.equal(seen.size, 6_000);
});
