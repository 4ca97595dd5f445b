/**
 * An answer's Date field: the IMF-fixdate of the current second, written in JavaScript
 * (core/log's imfFixdate) rather than by V8's `toUTCString`, whose first call maps 1-2 MB more of
 * the runtime into every service that answers `/health`.
 */
import assert from "node:assert/strict";
import { httpDate } from "../../../../core/http/h1/head_out.ts";
import { countingDateText } from "../../../support/date_text.ts";

Deno.test("an answer's Date field is made without Date's formatting, as toUTCString writes it", async () => {
  let date = "";
  const calls = await countingDateText(async () => {
    // httpDate makes its text once per second: wait for a second it has not made yet.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    date = httpDate();
  });
  assert.equal(calls, 0);
  assert.match(
    date,
    /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/,
  );
  assert.equal(date, new Date(Date.parse(date)).toUTCString());
  assert.ok(Math.abs(Date.parse(date) - Date.now()) < 10_000, date);
});
