/**
 * An answer's Date field: the IMF-fixdate of the current second, written in JavaScript
 * (core/log's imfFixdate) rather than by V8's `toUTCString`, whose first call maps 1-2 MB more of
 * the runtime into every service that answers `/health`.
 */
import assert from "node:assert/strict";
import { httpDate } from "../../../../core/http/h1/head_out.ts";
import { countingDateText } from "../../../support/date_text.ts";
import { createServer } from "../../../../core/http/mod.ts";
import { createLogger } from "../../../../core/log/mod.ts";
import { header, RawConn } from "../../../support/raw_http.ts";

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

Deno.test("the Date field follows the clock across a second boundary and when it goes back", () => {
  const now = Date.now;
  let clock = 0;
  Date.now = () => clock;
  const at = (ms: number) => {
    clock = ms;
    return httpDate();
  };
  try {
    const t = Date.UTC(2024, 1, 29, 23, 59, 58); // a leap day's last seconds
    assert.equal(at(t + 999), "Thu, 29 Feb 2024 23:59:58 GMT");
    assert.equal(at(t + 999), "Thu, 29 Feb 2024 23:59:58 GMT"); // the same second twice
    assert.equal(at(t + 1000), "Thu, 29 Feb 2024 23:59:59 GMT"); // the next second's first ms
    assert.equal(at(t + 2000), "Fri, 01 Mar 2024 00:00:00 GMT");
    // The clock set back (NTP step, VM restore): the field follows it, never stays ahead.
    assert.equal(at(t + 500), "Thu, 29 Feb 2024 23:59:58 GMT");
    assert.equal(at(t - 86_400_000), "Wed, 28 Feb 2024 23:59:58 GMT");
    // A clock before 1970 (a host with no RTC): as toUTCString writes it.
    assert.equal(at(-1), new Date(-1000).toUTCString());
  } finally {
    Date.now = now;
  }
});

Deno.test("a served answer's Date field is the second it was sent, with idle_timeout on or 0", async () => {
  // The connection dates a raw route's answer with the clock reading that armed its write
  // deadline (none with idle_timeout 0: the writer reads the clock then).
  for (const idleTimeoutMs of [60_000, 0]) {
    const server = createServer({
      service: "t",
      host: "127.0.0.1",
      port: 0,
      log: createLogger({ service: "t", sink: () => {} }),
      idleTimeoutMs,
      rawRoutes: (method, path) =>
        method === "GET" && path === "/d"
          ? { route: "/d", serve: () => ({ status: 200, headers: [], body: "ok" }) }
          : undefined,
    });
    const svc = await server.listen();
    const c = await RawConn.open(Number(new URL(svc.url).port));
    try {
      for (let i = 0; i < 3; i++) {
        const before = Math.floor(Date.now() / 1000) * 1000;
        await c.write("GET /d HTTP/1.1\r\nHost: localhost\r\n\r\n");
        const r = await c.read();
        const after = Date.now();
        assert.equal(r?.status, 200);
        const date = Date.parse(header(r!, "date") ?? "");
        assert.ok(date >= before && date <= after, `idle_timeout ${idleTimeoutMs}: ${date}`);
      }
    } finally {
      c.close();
      await svc.close();
    }
  }
});
