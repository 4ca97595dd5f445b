/**
 * A relay stream deleted and created again by another replica's start, under replicas that keep
 * running: the new stream numbers its events from 1 again, so a running replica must follow its
 * new epoch (as a restart would) instead of reading the new history under the old one, where an
 * id such as `<old epoch>-4` would name two different events. Covered: the running replica's
 * epoch, `/topics` and publish answers; a resume from the old history is reset (`epoch`) and
 * replays the new one; a live subscription of the old history ends (it resumes the same way);
 * with `--workers 2` every isolate follows.
 * @module
 */
import assert from "node:assert/strict";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Service } from "../../../core/http/mod.ts";
import { connectNats, NatsEngine } from "../../../core/nats/mod.ts";
import { epochOf as streamInfoEpoch, streamEpoch } from "../../../core/relay/jetstream_store.ts";
import { StreamWriter } from "../../../core/relay/js_writer.ts";
import { openJetStreamStore } from "../../../core/relay/on_demand.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { exchange, json } from "../../support/raw_http.ts";
import { startIatpService, waitFor } from "../../helpers.ts";
import { openSse, publish, quietLog, startRelay } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;
const STREAM = "IATP_RELAY";
/** The test's bound on the running replica noticing the new stream. */
const FOLLOW_WITHIN_MS = 30_000;

async function epochOf(url: string): Promise<string> {
  return String((await (await fetch(`${url}/health`)).json()).epoch);
}

/** `GET /topics` on a fresh connection (the kernel picks the isolate per connection). */
async function topicsFresh(port: number): Promise<Record<string, unknown>> {
  const req = "GET /topics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";
  const r = await exchange(port, req, { timeoutMs: 10_000 });
  if (!r) throw new Error("no response");
  return json(r);
}

/** Requests each isolate served, from `iatp_worker_http_requests_total` in /metrics. */
async function served(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (
    const m of text.matchAll(/^iatp_worker_http_requests_total\{[^}]*worker="(\d+)"\} (\d+)/gm)
  ) {
    out.set(m[1], (out.get(m[1]) ?? 0) + Number(m[2]));
  }
  return out;
}

Deno.test({
  name: "jetstream epoch: a stream created again by another replica is followed by a running " +
    "one: new epoch, no old-epoch id for a new event, old resumes reset and replay the new history",
  ignore,
}, async () => {
  const nats = await startNats();
  const started: Service[] = [];
  try {
    const a = await startRelay({ store: nats.url, compat: "iatp" });
    started.push(a);
    const old = await epochOf(a.url);
    for (let n = 1; n <= 3; n++) assert.equal((await publish(a.url, "t", { old: n })).status, 201);
    const live = await openSse(a.url, "topic=t");
    await live.until((e) => e.filter((x) => x.event === "message").length === 3);

    const jsm = await nats.manager();
    await jsm.streams.delete(STREAM);
    const b = await startRelay({ store: nats.url, compat: "iatp" });
    started.push(b);
    const fresh = await epochOf(b.url);
    assert.notEqual(fresh, old);
    // Past the old stream's last sequence: read under the old epoch, these would take its ids.
    for (let n = 1; n <= 5; n++) {
      const r = await publish(b.url, "t", { fresh: n });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.id, `${fresh}-${n}`);
    }
    // At once, before its tail noticed: the answer still carries the new stream's epoch.
    const first = await publish(a.url, "t", { fresh: 6 });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.id, `${fresh}-6`);

    await waitFor(
      async () => await epochOf(a.url) === fresh,
      FOLLOW_WITHIN_MS,
      "the running replica to follow the new stream's epoch",
    );
    await waitFor(
      async () => {
        const topics = await (await fetch(`${a.url}/topics`)).json();
        return topics.topics?.[0]?.last_id === `${fresh}-6`;
      },
      FOLLOW_WITHIN_MS,
      "the running replica to read the new stream",
    );

    // The subscription of the old history ended; nothing of the new one went out under the old epoch.
    await live.ended;
    for (const m of live.messages()) {
      if (m.id?.startsWith(`${old}-`)) assert.ok("old" in (m.json.payload as object), m.data);
    }

    const resumed = await openSse(a.url, "topic=t", { "Last-Event-ID": `${old}-3` });
    await resumed.until((e) => e.filter((x) => x.event === "message").length === 6);
    await resumed.close();
    const reset = resumed.events.find((e) => e.event === "reset");
    assert.equal(JSON.parse(reset?.data ?? "{}").reason, "epoch");
    assert.deepEqual(
      resumed.messages().map((m) => [m.id, m.json.payload]),
      [1, 2, 3, 4, 5, 6].map((n) => [`${fresh}-${n}`, { fresh: n }]),
    );

    const mine = await publish(a.url, "t", { fresh: 7 });
    assert.equal(mine.status, 201, JSON.stringify(mine.body));
    assert.equal(mine.body.id, `${fresh}-7`);
  } finally {
    for (const s of started) await s.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream epoch: with --workers 2 every isolate of a running replica follows a stream " +
    "created again",
  ignore,
}, async () => {
  const nats = await startNats();
  const started: Service[] = [];
  const a = await startIatpService([
    "relay",
    "--port",
    "0",
    "--workers",
    "2",
    "--compat",
    "iatp",
    "--store",
    nats.url,
  ]);
  try {
    const port = Number(new URL(a.url).port);
    for (let n = 1; n <= 3; n++) assert.equal((await publish(a.url, "t", { old: n })).status, 201);
    const jsm = await nats.manager();
    await jsm.streams.delete(STREAM);
    const b = await startRelay({ store: nats.url, compat: "iatp" });
    started.push(b);
    const fresh = await epochOf(b.url);
    for (let n = 1; n <= 5; n++) {
      assert.equal((await publish(b.url, "t", { fresh: n })).status, 201);
    }
    // Until a round of fresh connections reached both isolates (each served 3 or more of them:
    // the two reads of /metrics add at most 2 to one), and every answer was of the new stream.
    await waitFor(
      async () => {
        const before = await served(a.url);
        const seen = [];
        for (let i = 0; i < 12; i++) seen.push(await topicsFresh(port));
        const after = await served(a.url);
        const both = ["0", "1"].every((w) => (after.get(w) ?? 0) - (before.get(w) ?? 0) >= 3);
        return both && seen.every((t) =>
          t.epoch === fresh &&
          (t.topics as Array<Record<string, unknown>>)[0]?.last_id === `${fresh}-5`
        );
      },
      FOLLOW_WITHIN_MS,
      "every isolate to follow the new stream",
    );
  } finally {
    for (const s of started) await s.close();
    await a.stop();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream epoch: a stream created again while the tail's consumer is being made is " +
    "not read under the old epoch",
  ignore,
}, async () => {
  const nats = await startNats();
  const real = await connectNats({ url: nats.url, name: "test", timeoutMs: 5_000 }, quietLog);
  let fresh = "";
  let raced = false;
  // The first consumer the tail makes: just before it, after the tail looked at the stream, the
  // stream is deleted and created again (another replica's start) and an event written to it.
  const js = new Proxy(real.js, {
    get(target, key) {
      if (key === "consumers") {
        return {
          get: async (...args: Parameters<JetStreamClient["consumers"]["get"]>) => {
            if (!raced) {
              raced = true;
              await real.jsm.streams.delete(STREAM);
              await real.jsm.streams.add({ name: STREAM, subjects: ["relay.>"] });
              fresh = streamEpoch((await real.jsm.streams.info(STREAM)).created);
              const writer = new StreamWriter({
                engine: real,
                prefix: "relay",
                timeoutMs: 5_000,
                maxPending: 1,
              });
              await writer.publish({ topic: "t", eventId: "e1", payloadJson: "{}", tsMs: 1 });
            }
            return await target.consumers.get(...args);
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
    const old = store.epoch;
    await waitFor(() => store.lastSeq >= 1, 30_000, "the tail to read the new stream's event");
    assert.ok(raced);
    assert.notEqual(fresh, old);
    assert.equal(store.epoch, fresh, "the new stream's event was read under the old epoch");
  } finally {
    await store.close();
    await real.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream epoch: a stream created again while a relay starts gets its own epoch, not " +
    "the one of the stream the relay looked at first",
  ignore,
}, async () => {
  const nats = await startNats();
  const real = await connectNats({ url: nats.url, name: "test", timeoutMs: 5_000 }, quietLog);
  // A stream made without the relay (no epoch recorded yet), holding one event.
  const old = await real.jsm.streams.add({ name: STREAM, subjects: ["relay.>"] });
  await real.js.publish("relay.t", "{}");
  let fresh = "";
  // Just before the relay's first update of the stream, it is deleted and created again.
  const streams = new Proxy(real.jsm.streams, {
    get(target, key) {
      if (key === "update") {
        return async (...args: Parameters<typeof target.update>) => {
          if (!fresh) {
            await real.jsm.streams.delete(STREAM);
            const made = await real.jsm.streams.add({ name: STREAM, subjects: ["relay.>"] });
            fresh = streamEpoch(made.created);
          }
          return await target.update(...args);
        };
      }
      const v = Reflect.get(target, key);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const jsm = new Proxy(real.jsm, {
    get: (target, key) => key === "streams" ? streams : Reflect.get(target, key),
  });
  const engine = new NatsEngine(real.client, real.nc, real.js, jsm, real.display, quietLog);
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
    assert.ok(fresh, "the stream was created again during the start");
    assert.notEqual(fresh, streamEpoch(old.created));
    assert.equal(store.epoch, fresh);
    assert.match((await real.jsm.streams.info(STREAM)).config.description ?? "", /iatp-epoch:/);
    assert.equal(streamInfoEpoch(await real.jsm.streams.info(STREAM)), fresh);
  } finally {
    await store.close();
    await real.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream epoch: a server restart after the stream's bounds were updated keeps the " +
    "epoch: a client resumes with no reset and no gap",
  ignore,
}, async () => {
  const nats = await startNats();
  const started: Service[] = [];
  const relay = async (retention_events: number) => {
    const r = await startRelay({ store: nats.url, compat: "iatp", retention_events });
    started.push(r);
    return r;
  };
  const restartServer = async () => {
    for (const s of started.splice(0)) await s.close();
    await nats.nodes[0].kill();
    await nats.nodes[0].restart();
  };
  try {
    const a = await relay(50);
    const epoch = await epochOf(a.url);
    for (let n = 1; n <= 3; n++) assert.equal((await publish(a.url, "t", { n })).status, 201);
    await restartServer();
    // Other bounds: this start updates the stream's configuration, after the restart.
    const b = await relay(60);
    assert.equal(await epochOf(b.url), epoch);
    assert.equal((await publish(b.url, "t", { n: 4 })).status, 201);
    await restartServer();

    const c = await relay(60);
    assert.equal(await epochOf(c.url), epoch);
    const resumed = await openSse(c.url, "topic=t", { "Last-Event-ID": `${epoch}-2` });
    const fifth = await publish(c.url, "t", { n: 5 });
    assert.equal(fifth.status, 201, JSON.stringify(fifth.body));
    assert.equal(fifth.body.id, `${epoch}-5`);
    await resumed.until((e) => e.some((x) => x.id === `${epoch}-5`));
    await resumed.close();
    assert.equal(resumed.events.find((e) => e.event === "reset"), undefined);
    assert.deepEqual(
      resumed.messages().map((m) => [m.id, m.json.payload]),
      [3, 4, 5].map((n) => [`${epoch}-${n}`, { n }]),
    );
  } finally {
    for (const s of started) await s.close();
    await nats.stop();
  }
});
