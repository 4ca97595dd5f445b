/**
 * The relay's JetStream writer against a real nats-server: a write repeated with the same event
 * id (a retry after a lost answer) is stored once and answers the first sequence, and each
 * event names its topic's previous one.
 * @module
 */
import assert from "node:assert/strict";
import { connectNats } from "../../../core/nats/mod.ts";
import { StreamWriter } from "../../../core/relay/js_writer.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { quietLog } from "./relay_helpers.ts";

Deno.test({
  name: "StreamWriter: a repeated event id is stored once; prev chains a topic's events",
  ignore: natsMissing !== undefined,
}, async () => {
  const nats = await startNats();
  const engine = await connectNats(
    { url: nats.url, timeoutMs: 5_000, name: "writer-test" },
    quietLog,
  );
  try {
    await engine.jsm.streams.add({ name: "W", subjects: ["w.>"], duplicate_window: 60e9 });
    const writer = new StreamWriter({ engine, prefix: "w", timeoutMs: 5_000, maxPending: 10 });
    const e = { topic: "t", eventId: "ev-1", payloadJson: '{"n":1}', tsMs: 1 };
    const first = await writer.publish(e);
    assert.equal(await writer.publish(e), first, "the retry answers the stored sequence");
    const second = await writer.publish({ ...e, eventId: "ev-2", payloadJson: '{"n":2}' });
    const info = await engine.jsm.streams.info("W");
    assert.equal(info.state.messages, 2);
    const m = await engine.jsm.streams.getMessage("W", { seq: second });
    assert.equal(m?.header.get("Iatp-Prev"), String(first));
  } finally {
    await engine.close();
    await nats.stop();
  }
});

Deno.test({
  name: "StreamWriter: what it acknowledged is kept only until the tail is past it (topics " +
    "never published again leave nothing behind)",
  ignore: natsMissing !== undefined,
}, async () => {
  const nats = await startNats();
  const engine = await connectNats(
    { url: nats.url, timeoutMs: 5_000, name: "writer-test" },
    quietLog,
  );
  try {
    await engine.jsm.streams.add({ name: "W", subjects: ["w.>"] });
    const writer = new StreamWriter({ engine, prefix: "w", timeoutMs: 5_000, maxPending: 10 });
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      seqs.push(
        await writer.publish({ topic: `t${i}`, eventId: `e${i}`, payloadJson: "{}", tsMs: 1 }),
      );
    }
    assert.equal(writer.remembered, 5);
    writer.tailed("t0", seqs[0]);
    assert.equal(writer.remembered, 4);
    writer.tailedThrough(seqs[3]);
    assert.equal(writer.remembered, 1);
    writer.tailedThrough(seqs[4]);
    assert.equal(writer.remembered, 0);
  } finally {
    await engine.close();
    await nats.stop();
  }
});
