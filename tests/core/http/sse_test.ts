/** SSE encoding and parsing. */
import assert from "node:assert/strict";
import { encodeEvent, type SseEvent, SseParser } from "../../../core/http/sse.ts";

const dec = new TextDecoder();

Deno.test("encode then parse round-trips multi-line data, ids and event names", () => {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  const text = dec.decode(encodeEvent({ id: "e-1", event: "message", data: "a\nb\r\nc" })) +
    ": comment\n\n" + dec.decode(encodeEvent({ event: "reset", data: "{}" }));
  // Feed one character at a time: frames split anywhere must still parse.
  for (const ch of text) p.push(ch);
  assert.deepEqual(out, [
    { event: "message", data: "a\nb\nc", id: "e-1" },
    { event: "reset", data: "{}" },
  ]);
  assert.equal(p.lastEventId, "e-1");
});

Deno.test("the parser handles CR and CRLF line ends split across chunks, and retry", () => {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  p.push("retry: 500\r");
  p.push("\ndata:x\r");
  p.push("\r");
  p.push("id: 7\rdata: y\r\n\r\n");
  assert.equal(p.retryMs, 500);
  assert.deepEqual(out, [{ event: "message", data: "x" }, {
    event: "message",
    data: "y",
    id: "7",
  }]);
});

Deno.test("the parser drops an event larger than its bound", () => {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e), 10);
  p.push("data: " + "x".repeat(50) + "\n\ndata: ok\n\n");
  assert.deepEqual(out, [{ event: "message", data: "ok" }]);
});

Deno.test("encodeEvent cannot be tricked into extra fields by newlines in id or event", () => {
  const text = dec.decode(encodeEvent({ id: "a\nevent: evil", event: "x\ny", data: "d" }));
  assert.equal(text, "id: a event: evil\nevent: x y\ndata: d\n\n");
});
