/**
 * The log's timestamps and the HTTP Date field, written in JavaScript: the same text as V8's
 * `toISOString` and `toUTCString`, which the logger does not call (their first call maps 1-2 MB
 * more of the runtime into every service at start; the HTTP edge's Date field:
 * tests/core/http/h1/date_test.ts).
 */
import assert from "node:assert/strict";
import { createLogger, imfFixdate, isoTimestamp } from "../../../core/log/mod.ts";
import { countingDateText } from "../../support/date_text.ts";

const DAY = 86_400_000;

/** Times where a calendar rule turns: epoch, leap days, centuries, the ends of four-digit years. */
const EDGES = [
  0,
  1,
  999,
  DAY - 1,
  Date.UTC(1972, 1, 29, 12),
  Date.UTC(1999, 11, 31, 23, 59, 59, 999),
  Date.UTC(2000, 1, 29),
  Date.UTC(2000, 2, 1),
  Date.UTC(2024, 1, 29, 23, 59, 59, 999),
  Date.UTC(2100, 1, 28, 23, 59, 59, 999),
  Date.UTC(2100, 2, 1),
  Date.UTC(2400, 1, 29),
  Date.UTC(9999, 11, 31, 23, 59, 59, 999),
  -1,
  -DAY,
  Date.UTC(1969, 11, 31, 23, 59, 59, 999),
  Date.UTC(1900, 1, 28),
  Date.UTC(1600, 1, 29, 6),
  -62_167_219_200_000, // 0000-01-01T00:00:00.000Z
];

/** Beyond four-digit years, and times that are not integers: V8's own text. */
const FALLBACK = [253_402_300_800_000, -62_167_219_200_001, 8.64e15, -8.64e15, 1.5];

Deno.test("isoTimestamp writes what toISOString does, from year 0 to 9999 and beyond", () => {
  for (const ms of [...EDGES, ...FALLBACK]) {
    assert.equal(isoTimestamp(ms), new Date(ms).toISOString(), `at ${ms}`);
  }
  // Every 7,777,777,777 ms (about 90 days and an odd number of ms) across the four-digit years.
  for (let ms = -62_167_219_200_000; ms < 253_402_300_800_000; ms += 7_777_777_777) {
    assert.equal(isoTimestamp(ms), new Date(ms).toISOString(), `at ${ms}`);
  }
  assert.throws(() => isoTimestamp(NaN), RangeError);
});

Deno.test("imfFixdate writes what toUTCString does (the HTTP Date field)", () => {
  for (const ms of [...EDGES, ...FALLBACK]) {
    assert.equal(imfFixdate(ms), new Date(ms).toUTCString(), `at ${ms}`);
  }
  for (let ms = 0; ms < 253_402_300_800_000; ms += 777_777_777) {
    assert.equal(imfFixdate(ms), new Date(ms).toUTCString(), `at ${ms}`);
  }
});

Deno.test("a log line's ts is made without Date's formatting", async () => {
  const lines: string[] = [];
  const log = createLogger({ service: "t", sink: (l) => lines.push(l) });
  let before = 0;
  let after = 0;
  const calls = await countingDateText(() => {
    before = Date.now();
    log.info("hello");
    after = Date.now();
  });
  assert.equal(calls, 0);
  const ts = JSON.parse(lines[0]).ts;
  assert.match(ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Date.parse(ts) >= before && Date.parse(ts) <= after, ts);
});
