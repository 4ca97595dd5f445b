/**
 * An event's envelope and SSE frame: `isoTime` writes what `Date#toISOString` writes (the text up
 * to the second is made once per second), and `messageFrame` writes what `encodeEvent` writes,
 * refusing what it refuses.
 * @module
 */
import assert from "node:assert/strict";
import { encodeEvent } from "../../../core/http/mod.ts";
import { messageFrame } from "../../../core/relay/replay.ts";
import { eventData, isoTime } from "../../../core/relay/store.ts";

const text = new TextDecoder();

Deno.test("isoTime writes Date#toISOString, across seconds and out of its fast range", () => {
  const base = Date.UTC(2026, 11, 31, 23, 59, 58);
  const times = [0, 1, 9, 10, 99, 100, 999, 1000, 1500, -1, -1500, 1.5, 999.9, 8.64e15];
  for (let ms = base - 5; ms < base + 2100; ms += 7) times.push(ms);
  times.push(253402300799999, 253402300800000, 253402300800001);
  for (const ms of times) assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
  // Back to an earlier second, and again: nothing of the later one is kept.
  assert.equal(isoTime(base + 3), new Date(base + 3).toISOString());
  assert.equal(isoTime(base + 1003), new Date(base + 1003).toISOString());
  assert.equal(isoTime(base + 42), new Date(base + 42).toISOString());
  assert.throws(() => isoTime(NaN), RangeError);
  assert.equal(
    JSON.parse(eventData("e1", 7, 1500, "a.b", "{}")).ts_iso,
    "1970-01-01T00:00:01.500Z",
  );
});

Deno.test("messageFrame writes encodeEvent's frame, multi-line data and refusals included", () => {
  const cases = [
    { epoch: "k3f9x2m1ab0c", data: eventData("e1", 7, 1500, "a.b", '{"x":"é\\n"}') },
    { epoch: "k3f9x2m1ab0c", data: "line one\nline two\r\nthree\rfour" },
    { epoch: "k3f9x2m1ab0c", data: "" },
    // A CR alone (no LF) ends a line for a parser too: split as encodeEvent splits it.
    { epoch: "k3f9x2m1ab0c", data: '{"a":\r1}' },
    { epoch: "k3f9x2m1ab0c", data: "\0nul é \u2028 \ud83d\ude00" },
    { epoch: "other", data: '{"a":1}' },
    { epoch: "with-dash", data: '{"a":1}' },
    { epoch: "k3f9x2m1ab0c", data: '{"a":1}' },
  ];
  for (const { epoch, data } of cases) {
    const want = encodeEvent({ id: `${epoch}-5`, event: "message", data });
    const got = messageFrame(epoch, { seq: 5, topic: "a.b", tsMs: 0, data });
    assert.equal(text.decode(got), text.decode(want), JSON.stringify({ epoch, data }));
  }
  for (const epoch of ["bad\nepoch", "nul\0"]) {
    assert.throws(
      () => messageFrame(epoch, { seq: 1, topic: "a", tsMs: 0, data: "{}" }),
      SyntaxError,
    );
  }
});
