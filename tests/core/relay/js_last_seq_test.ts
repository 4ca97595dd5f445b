/**
 * The engine's newest sequence, as `GET /topics` on a nats store asks it: callers at once share
 * lookups (one in flight, one queued after it), so a burst of them costs the engine two requests,
 * not one each, and every caller gets the sequence of the events stored before it asked.
 * @module
 */
import assert from "node:assert/strict";
import { connectNats, NatsEngine } from "../../../core/nats/mod.ts";
import { StreamWriter } from "../../../core/relay/js_writer.ts";
import { openJetStreamStore } from "../../../core/relay/on_demand.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { quietLog } from "./relay_helpers.ts";

const STREAM = "IATP_RELAY";

Deno.test({
  name: "jetstream store: lookups of the engine's newest sequence made at once share requests",
  ignore: natsMissing !== undefined,
}, async () => {
  const nats = await startNats();
  const real = await connectNats({ url: nats.url, name: "test", timeoutMs: 5_000 }, quietLog);
  const engine = new NatsEngine(real.client, real.nc, real.js, real.jsm, real.display, quietLog);
  const store = await openJetStreamStore({
    engine,
    log: quietLog,
    stream: STREAM,
    prefix: "relay",
    replicas: 1,
    retention: { maxEventsPerTopic: 10, maxAgeMs: 0, maxTopics: 10 },
    maxPayloadBytes: 1024,
    duplicateWindowMs: 60_000,
    cacheEvents: 10,
    maxPendingPublishes: 10,
    publishTimeoutMs: 5_000,
    catchupTimeoutMs: 5_000,
  });
  try {
    const writer = new StreamWriter({
      engine: real,
      prefix: "relay",
      timeoutMs: 5_000,
      maxPending: 1,
    });
    for (let n = 1; n <= 3; n++) {
      await writer.publish({ topic: "t", eventId: `e${n}`, payloadJson: "{}", tsMs: n });
    }
    // The lookups of the newest sequence, counted where they are made: the store's tail also
    // asks for the stream's info now and then, which an account's API total would count too.
    const streams = real.jsm.streams;
    const info = streams.info.bind(streams);
    let lookups = 0;
    streams.info = (...args: Parameters<typeof info>) => {
      if (new Error().stack?.includes("askLastSeq")) lookups++;
      return info(...args);
    };
    const seqs = await Promise.all(Array.from({ length: 50 }, () => store.engineLastSeq()));
    assert.equal(lookups, 2);
    assert.deepEqual(new Set(seqs), new Set([3]));
    // One after the other, each asks again: a later event is seen.
    await writer.publish({ topic: "t", eventId: "e4", payloadJson: "{}", tsMs: 4 });
    assert.equal(await store.engineLastSeq(), 4);
  } finally {
    await store.close();
    await real.nc.close();
    await nats.stop();
  }
});
