/**
 * The relay's hot messages between isolates as one string: every field of every event and
 * publish comes back exactly, whatever characters it holds (the layout's own separators, digits
 * where a length is read, line ends, non-ASCII, lone surrogates), a publisher absent stays absent
 * and an empty one stays empty; a string that is not one of them is refused.
 */
import assert from "node:assert/strict";
import {
  decodeEvents,
  decodePublish,
  encodeEvents,
  encodePublish,
} from "../../../core/relay/isolate_wire.ts";
import type { IsolatePublish } from "../../../core/relay/isolate_store.ts";
import type { TailedEvent } from "../../../core/relay/js_wire.ts";

const awkward = [
  "",
  ",",
  ":",
  "-",
  "12:34,",
  "3:abc",
  "-1,2:",
  "\n\r\0",
  "日本語のトピック",
  "emoji 🚀 and é",
  "\uD800 lone \uDFFF",
  '{"a":"b,c:d","n":[1,2,3]}',
  "x".repeat(70_000),
];

function tailed(i: number, text: string, publisher: string | undefined): TailedEvent {
  const event = { seq: 1 + i, topic: `t${text}`, tsMs: 1_765_000_000_123 + i, data: text };
  return {
    event: publisher === undefined ? event : { ...event, publisher },
    prev: i,
    storedMs: 1_765_000_000_456 + i,
  };
}

Deno.test("events: a batch comes back field for field, publisher absent, empty or any text", () => {
  const batch: TailedEvent[] = [];
  awkward.forEach((text, i) => {
    batch.push(tailed(3 * i, text, undefined));
    batch.push(tailed(3 * i + 1, text, ""));
    batch.push(tailed(3 * i + 2, text, text));
  });
  const back = decodeEvents(encodeEvents(batch));
  assert.deepStrictEqual(back, batch);
  for (let i = 0; i < batch.length; i += 3) {
    assert.ok(!("publisher" in back[i].event), "an anonymous publish stays without publisher");
    assert.equal(back[i + 1].event.publisher, "");
  }
});

Deno.test("events: one event, the largest sequences, an empty topic and data; an empty batch", () => {
  const one: TailedEvent[] = [{
    event: { seq: Number.MAX_SAFE_INTEGER, topic: "", tsMs: 0, data: "" },
    prev: Number.MAX_SAFE_INTEGER - 1,
    storedMs: 1.5,
  }];
  assert.deepStrictEqual(decodeEvents(encodeEvents(one)), one);
  assert.deepStrictEqual(decodeEvents(encodeEvents([])), []);
});

Deno.test("publish: topic, event id, JSON and publisher come back exactly", () => {
  for (const text of awkward) {
    for (const publisher of [undefined, "", text, "agent:7,-"]) {
      const p: IsolatePublish = publisher === undefined
        ? { topic: text, eventId: `${text}-id`, json: text }
        : { topic: text, eventId: `${text}-id`, json: text, publisher };
      const back = decodePublish(encodePublish(p));
      assert.deepStrictEqual(back, p);
      assert.equal("publisher" in back, publisher !== undefined);
    }
  }
  // An IsolatePublish built with publisher: undefined is an anonymous publish too.
  const back = decodePublish(
    encodePublish({ topic: "a", eventId: "b", json: "{}", publisher: undefined }),
  );
  assert.deepStrictEqual(back, { topic: "a", eventId: "b", json: "{}" });
});

Deno.test("a string that is not a batch or a publish is refused, not misread", () => {
  const good = encodeEvents([tailed(0, "abc", "p")]);
  for (const bad of [good.slice(0, -1), good.slice(0, 5), "x", "1,2,3,4,", "1,2,3,4,5x"]) {
    assert.throws(() => decodeEvents(bad), /does not decode/, JSON.stringify(bad));
  }
  const p = encodePublish({ topic: "a", eventId: "b", json: "{}" });
  for (const bad of [p.slice(0, -1), p + "x", ":a", "9:abc"]) {
    assert.throws(() => decodePublish(bad), /does not decode/, JSON.stringify(bad));
  }
});
