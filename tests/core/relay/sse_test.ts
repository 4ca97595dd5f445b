/** SSE encoding/parsing and topic patterns. */
import assert from "node:assert/strict";
import { isMeshScope } from "../../../core/auth/grants.ts";
import { formatPosition, parsePosition } from "../../../core/relay/position.ts";
import { encodeEvent, type SseEvent, SseParser } from "../../../core/relay/sse.ts";
import {
  isTopicName,
  isTopicPattern,
  patternCovers,
  TopicFilter,
  topicMatches,
} from "../../../core/relay/topic.ts";

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

Deno.test("topic names, patterns and matching", () => {
  assert.ok(isTopicName("access.intent"));
  assert.ok(isTopicName("a:b_c-d.e"));
  for (const bad of ["", "a b", "a/b", "x".repeat(129), "é"]) assert.ok(!isTopicName(bad), bad);
  assert.ok(isTopicPattern("sensor.*") && isTopicPattern("*") && isTopicPattern("a"));
  assert.ok(!isTopicPattern("a*") && !isTopicPattern("*.a") && !isTopicPattern(".*"));
  assert.ok(topicMatches("sensor.*", "sensor.cpu.load"));
  assert.ok(!topicMatches("sensor.*", "sensor"));
  assert.ok(!topicMatches("sensor.*", "sensorx.cpu"));
  const f = new TopicFilter(["a", "b.*"]);
  assert.ok(f.matches("a") && f.matches("b.c") && !f.matches("b") && !f.matches("c"));
  assert.ok(
    patternCovers("*", "a.*") && patternCovers("a.*", "a.b.*") && patternCovers("a.*", "a.b"),
  );
  assert.ok(
    !patternCovers("a.*", "*") && !patternCovers("a.b", "a.*") && !patternCovers("a.*", "a"),
  );
});

Deno.test("positions and scopes parse strictly", () => {
  assert.deepEqual(parsePosition(formatPosition("abc123", 42)), { epoch: "abc123", seq: 42 });
  for (const bad of ["", "42", "abc-", "-1", "a-b", "a b-1", "x-99999999999999999"]) {
    assert.equal(parsePosition(bad), undefined, bad);
  }
  assert.ok(isMeshScope("publish:sensor.*"));
  assert.ok(!isMeshScope("admin:*"));
  assert.ok(!isMeshScope("subscribe:a b"));
});
