/**
 * Topics freed on a NATS JetStream relay: once every event of a topic aged out of the stream or
 * was purged from it, its creator's share of `max_topics_per_principal` is reusable; a topic
 * being created whose event was acknowledged but never read back by the tail (gone before it got
 * there, or a tail that does not move) stops counting once the tail is past it or after
 * `nats.timeout`. Real nats-server processes.
 * @module
 */
import assert from "node:assert/strict";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Service } from "../../../core/http/mod.ts";
import { connectNats, NatsEngine } from "../../../core/nats/mod.ts";
import { openJetStreamStore } from "../../../core/relay/on_demand.ts";
import { startRelayServer } from "../../../core/relay/server.ts";
import { TopicLimitError } from "../../../core/relay/store.ts";
import { type NatsFixture, natsMissing, startNats } from "../../support/nats.ts";
import { delay, waitFor } from "../../helpers.ts";
import { openSse, publish, quietLog, startRelay } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;
const TOKEN = "jetstream-free-token-1";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const TOKENS = { [TOKEN]: ["publish:sensor.*", "subscribe:*"] };

/** Publishes until one is accepted (a refused publish stores nothing). */
const accepted = (url: string, topic: string) => async () =>
  (await publish(url, topic, { topic }, AUTH)).status === 201;

/**
 * Runs `fn` against a relay on a fresh nats-server whose publisher (TOKEN) may create one topic,
 * with age retention every 100 ms; `opts` adds to or overrides that.
 */
async function withRelay(
  opts: Record<string, unknown>,
  fn: (url: string, nats: NatsFixture) => Promise<void>,
): Promise<void> {
  const nats = await startNats();
  let relay: Service | undefined;
  try {
    relay = await startRelay({
      store: nats.url,
      compat: "iatp",
      tokens: TOKENS,
      max_topics_per_principal: 1,
      expire_interval: 100,
      ...opts,
    });
    await fn(relay.url, nats);
  } finally {
    await relay?.close();
    await nats.stop();
  }
}

Deno.test({
  name: "jetstream relay: a publisher whose topic aged out of the stream creates another; a " +
    "resume from before its events is reset",
  ignore,
}, async () => {
  await withRelay({ retention_age: 1_500 }, async (url) => {
    const first = await publish(url, "sensor.a0", { n: 1 }, AUTH);
    assert.equal(first.status, 201);
    assert.equal((await publish(url, "sensor.a0", { n: 2 }, AUTH)).status, 201);
    assert.equal((await publish(url, "sensor.a1", {}, AUTH)).status, 403);
    await waitFor(accepted(url, "sensor.a1"), 30_000, "sensor.a1 accepted");
    const sub = await openSse(url, "topic=sensor.a0", {
      ...AUTH,
      "Last-Event-ID": String(first.body.id),
    });
    await sub.until((e) => e.some((x) => x.event === "reset"));
    await sub.close();
    assert.equal(JSON.parse(sub.events[0].data).reason, "truncated");
  });
});

Deno.test({
  name: "jetstream relay: a publisher whose topics were purged from the stream creates others",
  ignore,
}, async () => {
  await withRelay({}, async (url, nats) => {
    assert.equal((await publish(url, "sensor.a0", {}, AUTH)).status, 201);
    const refused = await publish(url, "sensor.a1", {}, AUTH);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.setting, "max_topics_per_principal");
    await (await nats.manager()).streams.purge("IATP_RELAY");
    await waitFor(accepted(url, "sensor.a1"), 30_000, "sensor.a1 accepted");
    const topics = await (await fetch(`${url}/topics`, { headers: AUTH })).json();
    assert.deepEqual(topics.topics.map((t: { topic: string }) => t.topic), ["sensor.a1"]);
  });
});

/**
 * A JetStream store on `nats` whose tail's consumer is made only once `release` is called: until
 * then nothing is read back. `close` releases it and closes the store and its connection.
 */
async function openGatedStore(
  nats: NatsFixture,
  o: { maxTopicsPerPrincipal: number; publishTimeoutMs: number },
) {
  let release = () => {};
  const gate = new Promise<void>((r) => release = r);
  const real = await connectNats({ url: nats.url, name: "test", timeoutMs: 5_000 }, quietLog);
  const js = new Proxy(real.js, {
    get(target, key) {
      if (key === "consumers") {
        return {
          get: (...args: Parameters<JetStreamClient["consumers"]["get"]>) =>
            gate.then(() => target.consumers.get(...args)),
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
    retention: {
      maxEventsPerTopic: 10,
      maxAgeMs: 0,
      maxTopics: 10,
      maxTopicsPerPrincipal: o.maxTopicsPerPrincipal,
    },
    maxPayloadBytes: 1024,
    duplicateWindowMs: 60_000,
    cacheEvents: 10,
    maxPendingPublishes: 10,
    publishTimeoutMs: o.publishTimeoutMs,
    catchupTimeoutMs: 5_000,
  });
  const close = async () => {
    release();
    await store.close();
    await real.close();
  };
  return { store, release: () => release(), close };
}

for (const how of ["purged before the tail read it", "not read back within nats.timeout"]) {
  Deno.test({
    name: `jetstream store: a topic being created whose event was ${how} stops counting`,
    ignore,
  }, async () => {
    const nats = await startNats();
    const purge = how.startsWith("purged");
    const { store, release, close } = await openGatedStore(nats, {
      maxTopicsPerPrincipal: 1,
      publishTimeoutMs: purge ? 60_000 : 1_000,
    });
    try {
      assert.equal(await store.publish("t.1", "e1", "{}", Date.now(), "a"), 1);
      await assert.rejects(
        store.publish("t.2", "e2", "{}", Date.now(), "a"),
        (err) => err instanceof TopicLimitError && err.setting === "max_topics_per_principal",
      );
      if (purge) await (await nats.manager()).streams.purge("IATP_RELAY");
      await waitFor(
        async () => {
          store.expire(Date.now());
          try {
            await store.publish("t.2", "e2", "{}", Date.now(), "a");
            return true;
          } catch (err) {
            if (err instanceof TopicLimitError) return false;
            throw err;
          }
        },
        30_000,
        "t.2 accepted",
      );
      // Once the tail reads, what the stream holds is what the store lists.
      release();
      await waitFor(() => store.lastSeq === 2, 30_000, "the tail to read t.2");
      const listed = store.topics().map((t) => t.topic).sort();
      assert.deepEqual(listed, purge ? ["t.2"] : ["t.1", "t.2"]);
    } finally {
      await close();
      await nats.stop();
    }
  });
}

Deno.test({
  name: "jetstream relay: GET /topics waits for the tail to read what the engine held, so a " +
    "publisher answered 201 sees its topic",
  ignore,
}, async () => {
  const nats = await startNats();
  const { store, release, close } = await openGatedStore(nats, {
    maxTopicsPerPrincipal: 10,
    publishTimeoutMs: 5_000,
  });
  const relay = await startRelayServer({
    host: "127.0.0.1",
    port: 0,
    log: quietLog,
    store,
    heartbeatMs: 15_000,
    retryMs: 1_000,
    expireIntervalMs: 60_000,
    resumeWaitMs: 20_000,
    compat: "iatp",
  });
  try {
    assert.equal((await publish(relay.url, "sensor.b0", {}, {})).status, 201);
    assert.equal(store.lastSeq, 0, "the tail has read nothing yet");
    const asked = fetch(`${relay.url}/topics`).then((r) => r.json());
    let answered = false;
    void asked.then(() => answered = true);
    await delay(300);
    assert.equal(answered, false, "GET /topics answered before the tail read the event");
    release();
    const topics = await asked;
    assert.deepEqual(topics.topics.map((t: { topic: string }) => t.topic), ["sensor.b0"]);
  } finally {
    await relay.close();
    await close();
    await nats.stop();
  }
});
