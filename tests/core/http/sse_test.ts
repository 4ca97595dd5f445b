/** SSE encoding and parsing against the WHATWG event-stream rules. @module */
import assert from "node:assert/strict";
import {
  encodeComment,
  encodeEvent,
  encodeRetry,
  eventText,
  type SseEvent,
  SseParser,
} from "../../../core/http/sse.ts";

const dec = new TextDecoder();

/** Every event parsed from `chunks`, fed in order, and the parser. */
function parse(chunks: string[], max?: number): { events: SseEvent[]; p: SseParser } {
  const events: SseEvent[] = [];
  const p = new SseParser((e) => events.push(e), max);
  for (const c of chunks) p.push(c);
  return { events, p };
}

Deno.test("encode then parse round-trips multi-line data, ids and event names", () => {
  const text = dec.decode(encodeEvent({ id: "e-1", event: "message", data: "a\nb\r\nc" })) +
    dec.decode(encodeComment("comment")) + dec.decode(encodeEvent({ event: "reset", data: "{}" }));
  // One character at a time: frames split anywhere must still parse.
  const { events, p } = parse([...text]);
  assert.deepEqual(events, [
    { event: "message", data: "a\nb\nc", id: "e-1" },
    { event: "reset", data: "{}", id: "e-1" },
  ]);
  assert.equal(p.lastEventId, "e-1");
});

Deno.test("LF, CRLF and CR line ends, also split across chunks", () => {
  const { events, p } = parse(["retry: 500\r", "\ndata:x\r", "\r", "id: 7\rdata: y\r\n\r\n"]);
  assert.equal(p.retryMs, 500);
  assert.deepEqual(events, [{ event: "message", data: "x" }, {
    event: "message",
    data: "y",
    id: "7",
  }]);
  assert.deepEqual(parse(["data: a\n\ndata: b\r\rdata: c\r\n\r\n"]).events.map((e) => e.data), [
    "a",
    "b",
    "c",
  ]);
});

Deno.test("a byte order mark at the start of the stream is dropped, and only there", () => {
  assert.deepEqual(parse(["\ufeffdata: x\n\n"]).events, [{ event: "message", data: "x" }]);
  assert.deepEqual(parse(["", "\ufeffdata: x\n\n"]).events.length, 1);
  const later = parse(["data: a\n\n", "\ufeffdata: b\n\n"]).events;
  assert.deepEqual(later.map((e) => e.data), ["a"], "a later BOM makes an unknown field");
});

Deno.test("data lines concatenate with LF; one leading space is stripped, no more", () => {
  const { events } = parse(["data: one\ndata:two\ndata:  three\ndata\n\n"]);
  assert.deepEqual(events, [{ event: "message", data: "one\ntwo\n three\n" }]);
});

Deno.test("events without data are not dispatched; an empty data line is data", () => {
  const { events, p } = parse(["event: ping\nid: 3\n\n", "event: e\ndata\n\n"]);
  assert.deepEqual(events, [{ event: "e", data: "", id: "3" }]);
  assert.equal(p.lastEventId, "3", "the id of a data-less event still counts");
});

Deno.test("comments are skipped; unknown fields and a field without a colon are ignored", () => {
  const { events } = parse([": hi\nfoo: bar\nevent\ndata: x\n\n"]);
  assert.deepEqual(events, [{ event: "message", data: "x" }]);
});

Deno.test("an id with NUL is ignored; the id persists until changed; an empty id clears it", () => {
  const { events } = parse([
    "id: 1\ndata: a\n\n",
    "id: 2\u0000x\ndata: b\n\n",
    "data: c\n\n",
    "id\ndata: d\n\n",
  ]);
  assert.deepEqual(events.map((e) => e.id), ["1", "1", "1", undefined]);
});

Deno.test("retry takes ASCII digits only", () => {
  for (const bad of ["retry: 10a", "retry: -5", "retry: 1.5", "retry: ", "retry: \u0661"]) {
    assert.equal(parse([`${bad}\n\n`]).p.retryMs, undefined, bad);
  }
  assert.equal(parse(["retry: 0042\n\n"]).p.retryMs, 42);
});

Deno.test("an event larger than the bound is dropped; the stream goes on", () => {
  const { events } = parse(["data: " + "x".repeat(50) + "\n\ndata: ok\n\n"], 10);
  assert.deepEqual(events, [{ event: "message", data: "ok" }]);
  const longLine = parse(["data: " + "y".repeat(30), "y".repeat(30), "\n\ndata: ok\n\n"], 20);
  assert.deepEqual(longLine.events, [{ event: "message", data: "ok" }]);
  const manyLines = parse(["data: 123456\n".repeat(5) + "\ndata: ok\n\n"], 20);
  assert.deepEqual(manyLines.events, [{ event: "message", data: "ok" }]);
});

Deno.test("the rest of a line too long for the bound is not a line of its own", () => {
  // The line's end must not read as a blank line (which would end the dropped event early and
  // dispatch its later lines as an event of their own).
  for (const split of [true, false]) {
    const text = "data: " + "z".repeat(40) + "\ndata: tail\n\ndata: ok\n\n";
    const chunks = split
      ? ["data: " + "z".repeat(30), "z".repeat(10) + "\ndata: tail\n\n", "data: ok\n\n"]
      : [text];
    assert.deepEqual(parse(chunks, 20).events, [{ event: "message", data: "ok" }], String(split));
    // Split at every character too.
    assert.deepEqual(parse([...text], 20).events, [{ event: "message", data: "ok" }]);
  }
  // A CR ending the long line, its LF in the next chunk.
  const cr = parse(["data: " + "z".repeat(30) + "\r", "\ndata: tail\r\n\r\ndata: ok\n\n"], 20);
  assert.deepEqual(cr.events, [{ event: "message", data: "ok" }]);
});

Deno.test("a line fed in many chunks is kept whole, pieces joined once", () => {
  const pieces = Array.from({ length: 500 }, (_, i) => String(i % 10).repeat(7));
  const { events } = parse(["id: 9\ndata: ", ...pieces, "\r", "\n\r\n"]);
  assert.deepEqual(events, [{ event: "message", data: pieces.join(""), id: "9" }]);
});

Deno.test("the encoder refuses line breaks in id and event, and NUL in id", () => {
  for (const id of ["a\nevent: evil", "a\rb", "a\r\nb", "a\u0000b"]) {
    assert.throws(() => encodeEvent({ id, data: "d" }), SyntaxError, JSON.stringify(id));
  }
  for (const event of ["x\ny", "x\r"]) {
    assert.throws(() => eventText({ event, data: "d" }), SyntaxError, JSON.stringify(event));
  }
});

Deno.test("comments split on line breaks; retry is whole non-negative milliseconds", () => {
  assert.equal(dec.decode(encodeComment("a\nb")), ": a\n: b\n\n");
  assert.equal(dec.decode(encodeRetry(1500.4)), "retry: 1500\n\n");
  assert.equal(dec.decode(encodeRetry(-3)), "retry: 0\n\n");
});
