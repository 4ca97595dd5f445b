import assert from "node:assert/strict";
import { FlightRecorder, isValidTraceId, openRecordStore } from "../../../core/recorder/mod.ts";
import { tempDir } from "../../helpers.ts";

Deno.test("ring keeps the newest records and indexes them by trace", () => {
  const r = new FlightRecorder({ capacity: 3 });
  r.record("request", "t1", { n: 1 });
  r.record("response", "t1", { n: 2 });
  r.record("request", "t2", { n: 3 });
  r.record("request", "t3", { n: 4 }); // evicts t1's first record
  assert.equal(r.size, 3);
  assert.deepEqual(r.trace("t1").map((x) => x.details.n), [2]);
  r.record("request", "t4", { n: 5 }); // evicts t1 entirely
  assert.deepEqual(r.trace("t1"), []);
  assert.deepEqual(r.trace("t4").map((x) => x.type), ["request"]);
  assert.match(r.trace("t4")[0].timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

Deno.test("details are scrubbed before they are held or handed on", () => {
  const seen: unknown[] = [];
  const r = new FlightRecorder({ capacity: 10, onRecord: (x) => seen.push(x) });
  assert.equal(r.readsAtOnce, true, "a subscriber hears of each record as it is made");
  r.record("request", "t", {
    payload: '{"card":"4532 0151 1283 0366","ssn":"078-05-1120"}',
    nested: { n: 4532015112830366, token: "abcd1234", ssn_list: ["078051120"], ssn: 78051120 },
  });
  const text = JSON.stringify(r.trace("t")) + JSON.stringify(seen);
  assert.ok(
    !text.includes("4532") && !text.includes("078-05") && !text.includes("078051120"),
    text,
  );
  assert.ok(!text.includes("abcd1234"), "secret-named keys are redacted too");
  assert.ok(text.includes("[CREDIT_CARD_REDACTED]") && text.includes("[SSN_REDACTED]"));
});

Deno.test("without a store or subscriber, records are scrubbed when first read, once", () => {
  const r = new FlightRecorder({ capacity: 4 });
  assert.equal(r.readsAtOnce, false);
  let built = 0;
  r.record("request", "lazy", () => {
    built++;
    return { payload: "Bearer abcdefgh1234 card 4532015112830366", n: 4532015112830366 };
  });
  r.record("response", "lazy", { status: 200, note: "password=hunter22" });
  assert.equal(built, 0, "nothing is built before a lookup");
  const first = r.trace("lazy");
  const text = JSON.stringify(first);
  assert.equal(built, 1);
  for (const raw of ["abcdefgh1234", "4532015112830366", "hunter22"]) {
    assert.ok(!text.includes(raw), `${raw} in ${text}`);
  }
  assert.ok(text.includes("[CREDIT_CARD_REDACTED]") && text.includes("[REDACTED]"));
  assert.deepEqual(first.map((x) => x.type), ["request", "response"]);
  assert.strictEqual(r.trace("lazy")[0], first[0], "the scrubbed record is kept, not rebuilt");
  assert.equal(built, 1);
  assert.match(first[0].timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

Deno.test("a details builder that throws leaves a marker, never an exception", () => {
  const r = new FlightRecorder({ capacity: 2 });
  r.record("request", "t", () => {
    throw new Error("boom 4532015112830366");
  });
  assert.deepEqual(r.trace("t").map((x) => x.details), [{ details_unavailable: true }]);
});

Deno.test("interleaved traces stay whole and in order across evictions", () => {
  const r = new FlightRecorder({ capacity: 5 });
  const ids = ["a", "b", "a", "c", "b", "a", "c", "a"];
  ids.forEach((id, i) => r.record("request", id, { i }));
  // The ring holds the last five: c(3) b(4) a(5) c(6) a(7).
  assert.deepEqual(r.trace("a").map((x) => x.details.i), [5, 7]);
  assert.deepEqual(r.trace("b").map((x) => x.details.i), [4]);
  assert.deepEqual(r.trace("c").map((x) => x.details.i), [3, 6]);
  assert.equal(r.size, 5);
  for (let i = 0; i < 5; i++) r.record("response", "d", { i });
  assert.deepEqual(r.trace("a"), []);
  assert.deepEqual(r.trace("c"), []);
  assert.deepEqual(r.trace("d").map((x) => x.details.i), [0, 1, 2, 3, 4]);
  const one = new FlightRecorder({ capacity: 1 });
  one.record("request", "x", { i: 1 });
  one.record("response", "x", { i: 2 });
  assert.deepEqual(one.trace("x").map((x) => x.details.i), [2]);
});

Deno.test("a throwing subscriber never breaks recording", () => {
  const r = new FlightRecorder({
    onRecord: () => {
      throw new Error("relay down");
    },
  });
  r.record("error", "t", {});
  assert.equal(r.trace("t").length, 1);
});

Deno.test("trace ids: safe characters only, no traversal", () => {
  for (const ok of ["abc", "A-b_c.1", "550e8400-e29b-41d4-a716-446655440000", "x".repeat(128)]) {
    assert.ok(isValidTraceId(ok), ok);
  }
  for (
    const bad of [
      "",
      ".",
      "..",
      "../etc/passwd",
      "a/b",
      "a b",
      "x".repeat(129),
      "é",
      null,
      undefined,
    ]
  ) {
    assert.ok(!isValidTraceId(bad), String(bad));
  }
});

Deno.test("SQLite store survives a restart and serves evicted traces", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir.path}/trace.db`;
    const r1 = new FlightRecorder({ capacity: 2, store: await openRecordStore(path) });
    r1.record("request", "old", { payload: "card 4532015112830366" });
    r1.record("response", "old", { status: 200 });
    r1.record("request", "new", {});
    r1.record("request", "new", {});
    assert.equal(r1.trace("old").length, 2, "evicted from memory, found in the store");
    await r1.close();
    const r2 = new FlightRecorder({ capacity: 2, store: await openRecordStore(path) });
    const old = r2.trace("old");
    assert.deepEqual(old.map((x) => x.type), ["request", "response"]);
    assert.equal(old[0].details.payload, "card [CREDIT_CARD_REDACTED]");
    await r2.close();
    const raw = await Deno.readFile(path);
    assert.ok(!new TextDecoder().decode(raw).includes("4532015112830366"));
  } finally {
    await dir.remove();
  }
});

Deno.test("SQLite store prunes to its row bound", async () => {
  const dir = await tempDir();
  try {
    const store = await openRecordStore(`${dir.path}/t.sqlite`, { maxRows: 5 });
    const r = new FlightRecorder({ capacity: 1, store });
    for (let i = 0; i < 20; i++) r.record("request", `t${i}`, { i });
    store.flush();
    assert.deepEqual(store.find("t0"), []);
    assert.equal(store.find("t19").length, 1);
    await r.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("JSONL store appends scrubbed lines, bounds its queue, and rotates", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir.path}/trace.jsonl`;
    const store = await openRecordStore(path, { maxQueue: 3, maxBytes: 400 });
    const r = new FlightRecorder({ store });
    for (let i = 0; i < 5; i++) r.record("request", "t", { ssn: "078-05-1120", i });
    assert.equal(store.dropped, 2, "queue bound of 3");
    store.flush();
    for (let i = 0; i < 5; i++) r.record("response", "u", { pad: "x".repeat(60) });
    await r.close();
    const lines = (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
    const rotated = (await Deno.readTextFile(`${path}.1`)).trim().split("\n");
    assert.equal(rotated.length, 3);
    assert.ok(rotated.every((l) => l.includes("[SSN_REDACTED]") && !l.includes("078-05")));
    assert.equal(lines.length, 3);
    assert.ok(lines.every((l) => l.type === "response" && l.trace_id === "u"));
  } finally {
    await dir.remove();
  }
});
