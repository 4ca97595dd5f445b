/** Topic names, patterns, matching and coverage. */
import assert from "node:assert/strict";
import {
  isTopicName,
  isTopicPattern,
  patternCovers,
  TopicFilter,
  topicMatches,
} from "../../../core/topic/topic.ts";

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
