/**
 * A JetStream replica whose tail was away from the engine while its topic's events came and left
 * the stream (the per-topic bound evicted them before the tail got to them): its live subscribers
 * are not carried on past them. Each ends with `event: overflow` and, resuming by its last id, is
 * answered with a `truncated` reset naming the oldest event kept, then the events after it. Real
 * nats-server; the tail is held away by making its consumer wait (no timing).
 * @module
 */
import assert from "node:assert/strict";
import type { ConsumerMessages, JetStreamClient } from "@nats-io/jetstream";
import { connectNats, NatsEngine } from "../../../core/nats/mod.ts";
import { openJetStreamStore } from "../../../core/relay/on_demand.ts";
import { startRelayServer } from "../../../core/relay/server.ts";
import { type NatsFixture, natsMissing, startNats } from "../../support/nats.ts";
import { waitFor } from "../../helpers.ts";
import { openSse, quietLog, seqs } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;
const KEPT = 3;

/**
 * A JetStream store on `nats` whose tail can be held away: `cut` stops its consumer and makes the
 * next one wait until `heal`.
 */
async function openStore(nats: NatsFixture, hold: boolean) {
  let gate: Promise<void> = Promise.resolve();
  let open = () => {};
  let current: ConsumerMessages | undefined;
  const real = await connectNats({ url: nats.url, name: "test", timeoutMs: 5_000 }, quietLog);
  const js = !hold ? real.js : new Proxy(real.js, {
    get(target, key) {
      if (key === "consumers") {
        return {
          get: async (...args: Parameters<JetStreamClient["consumers"]["get"]>) => {
            await gate;
            const c = await target.consumers.get(...args);
            const consume = c.consume.bind(c);
            c.consume = async (o) => current = await consume(o);
            return c;
          },
        };
      }
      const v = Reflect.get(target, key);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const engine = new NatsEngine(real.client, real.nc, js, real.jsm, real.display, quietLog);
  const store = await openJetStreamStore({
    engine,
    log: quietLog,
    stream: "IATP_RELAY",
    prefix: "relay",
    replicas: 1,
    retention: { maxEventsPerTopic: KEPT, maxAgeMs: 0, maxTopics: 10, maxTopicsPerPrincipal: 10 },
    maxPayloadBytes: 1024,
    duplicateWindowMs: 60_000,
    cacheEvents: 100,
    maxPendingPublishes: 10,
    publishTimeoutMs: 5_000,
    catchupTimeoutMs: 5_000,
  });
  return {
    store,
    /** Stops the tail's consumer; the next one is made only after `heal`. */
    cut() {
      gate = new Promise((r) => open = r);
      current?.stop();
    },
    heal: () => open(),
    async close() {
      open();
      await store.close();
      await real.close();
    },
  };
}

Deno.test({
  name: "jetstream relay: events a replica's tail never read (evicted while it was away) end " +
    "its live subscribers with overflow, and their resume is reset naming the gap",
  ignore,
}, async () => {
  const nats = await startNats();
  const a = await openStore(nats, false);
  const b = await openStore(nats, true);
  const relay = await startRelayServer({
    host: "127.0.0.1",
    port: 0,
    log: quietLog,
    store: b.store,
    heartbeatMs: 15_000,
    retryMs: 1_000,
    expireIntervalMs: 60_000,
    resumeWaitMs: 5_000,
    compat: "iatp",
  });
  const put = (n: number) => a.store.publish("t.a", `e${n}`, JSON.stringify({ n }), Date.now());
  const subs: Array<{ close(): Promise<void> }> = [];
  try {
    const live = await openSse(relay.url, "topic=t.a&since=now");
    subs.push(live);
    assert.equal(live.status, 200);
    assert.equal(await put(1), 1);
    assert.equal(await put(2), 2);
    await live.until((e) => e.filter((x) => x.event === "message").length === 2);

    // Replica b is cut off from the engine; meanwhile six events come and the stream keeps the
    // newest three: 3, 4 and 5 leave it before b reads them.
    b.cut();
    for (let n = 3; n <= 8; n++) assert.equal(await put(n), n);
    b.heal();
    await waitFor(() => b.store.lastSeq === 8, 15_000, "replica b to read seq 8");
    await live.until(
      (e) => e.some((x) => x.event === "overflow") || seqs(live).includes(8),
      15_000,
      "overflow or seq 8",
    );
    assert.deepEqual(seqs(live), [1, 2], "the live subscriber went on past the unread events");
    const over = live.events.find((x) => x.event === "overflow");
    assert.ok(over, "the live subscriber's stream ends with overflow");
    await live.ended;

    // Resuming from its last id: a reset naming the oldest event kept, then the events kept.
    const lastId = live.messages().at(-1)!.id!;
    const again = await openSse(relay.url, "topic=t.a", { "Last-Event-ID": lastId });
    subs.push(again);
    await again.until(() => seqs(again).includes(8), 15_000, "the resumed stream to reach 8");
    assert.equal(again.events[0].event, "reset");
    const reset = JSON.parse(again.events[0].data);
    assert.equal(reset.reason, "truncated");
    assert.equal(reset.oldest, `${b.store.epoch}-6`);
    assert.deepEqual(seqs(again), [6, 7, 8]);
  } finally {
    for (const s of subs) await s.close();
    await relay.close();
    await b.close();
    await a.close();
    await nats.stop();
  }
});
