/**
 * The relay on NATS JetStream, with real nats-server processes and relay replicas as child
 * processes: a resume on another replica after `kill -9`, exact truncation resets on a replica
 * that tails the stream and on one that started later, and a three-node cluster losing the
 * stream's leader while events are published.
 * @module
 */
import assert from "node:assert/strict";
import { natsMissing, startNats } from "../../support/nats.ts";
import { type ChildService, delay, startIatpService, waitFor } from "../../helpers.ts";
import { openSse, type SseReader } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;

type Relay = ChildService & { url: string };

function startRelay(store: string, ...extra: string[]): Promise<Relay> {
  return startIatpService(["relay", "--port", "0", "--store", store, "--compat", "iatp", ...extra]);
}

/** Publishes until the relay acknowledges (a 503 or a dropped connection is retried). */
async function publishAcked(url: string, topic: string, payload: unknown): Promise<number> {
  const until = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic, payload }),
      });
      const body = await res.json();
      if (res.status === 201) return body.seq;
      assert.deepEqual(res.status, 503, `publish answered ${res.status}: ${JSON.stringify(body)}`);
      assert.ok(res.headers.get("retry-after") !== null, "503 without Retry-After");
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
    }
    if (Date.now() > until) throw new Error(`publish to ${topic} never acknowledged`);
    await delay(50);
  }
}

function messages(r: SseReader) {
  return r.messages().map((m) => ({ id: m.id!, seq: m.json.seq as number, json: m.json }));
}

Deno.test({
  name: "jetstream relay: kill -9 the replica a subscriber reads, resume on the other by " +
    "Last-Event-ID: no gap, no duplicate, in order",
  ignore,
}, async () => {
  const nats = await startNats();
  const relays: Relay[] = [];
  try {
    relays.push(await startRelay(nats.url), await startRelay(nats.url));
    const [a, b] = relays;
    const total = 400;
    const onA = await openSse(a.url, "topic=job.*");
    const publishing = (async () => {
      for (let n = 1; n <= total; n++) await publishAcked(b.url, `job.${n % 3}`, { n });
    })();
    await onA.until((e) => e.filter((x) => x.event === "message").length >= 100, 30_000);
    await a.stop("SIGKILL");
    await onA.ended;
    const before = messages(onA);
    await publishing;
    const onB = await openSse(b.url, "topic=job.*", { "Last-Event-ID": before.at(-1)!.id });
    await onB.until((e) => e.filter((x) => x.event === "message").length >= total - before.length);
    await delay(200); // nothing more may follow (a duplicate would)
    await onB.close();
    const all = [...before, ...messages(onB)];
    assert.deepEqual(
      all.map((m) => m.json.payload),
      Array.from({ length: total }, (_, i) => ({ n: i + 1 })),
    );
    assert.deepEqual(all.map((m) => m.seq), Array.from({ length: total }, (_, i) => i + 1));
    assert.ok(!onB.events.some((e) => e.event === "reset"), "resume on B must not reset");
  } finally {
    await Promise.all(relays.map((r) => r.stop("SIGKILL")));
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: bounded history answers an exact reset, on the replica that wrote " +
    "and on one started later (from the stream's chain) with a cache too small to hold it",
  ignore,
}, async () => {
  const nats = await startNats();
  const relays: Relay[] = [];
  try {
    relays.push(await startRelay(nats.url, "--retention-events", "5"));
    const seqOf: number[] = [];
    for (let n = 1; n <= 10; n++) {
      seqOf[n] = await publishAcked(relays[0].url, "h", { n });
      await publishAcked(relays[0].url, "other", { n });
    }
    relays.push(await startRelay(nats.url, "--retention-events", "5", "--cache-events", "2"));
    const epoch = (await (await fetch(`${relays[0].url}/health`)).json()).epoch;
    for (const relay of relays) {
      const from = async (n: number) => {
        const r = await openSse(relay.url, "topic=h", { "Last-Event-ID": `${epoch}-${seqOf[n]}` });
        await r.until((e) => e.filter((x) => x.event === "message").length >= 10 - Math.max(n, 5));
        await r.close();
        return r;
      };
      // h evicted its events 1..5: a resume after 2 or 4 lost some, after 5 lost none.
      for (const n of [2, 4]) {
        const r = await from(n);
        const reset = r.events.find((e) => e.event === "reset");
        assert.equal(reset && JSON.parse(reset.data).reason, "truncated", `h#${n} must reset`);
        assert.deepEqual(
          messages(r).map((m) => m.json.payload),
          [6, 7, 8, 9, 10].map((n) => ({ n })),
        );
      }
      const r = await from(5);
      assert.ok(!r.events.some((e) => e.event === "reset"), "nothing after h#5 was evicted");
      assert.deepEqual(messages(r).map((m) => m.seq), [6, 7, 8, 9, 10].map((n) => seqOf[n]));
    }
  } finally {
    await Promise.all(relays.map((r) => r.stop("SIGKILL")));
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: a three-node cluster loses the stream leader while events are " +
    "published: no acknowledged event is lost and the subscribers go on, also on a replica " +
    "that was connected to the lost node",
  ignore,
}, async () => {
  const nats = await startNats(3);
  const relays: Relay[] = [];
  try {
    relays.push(await startRelay(nats.url, "--stream-replicas", "3"));
    const jsm = await nats.manager();
    const leaderName = (await jsm.streams.info("IATP_RELAY")).cluster?.leader;
    const leader = nats.nodes.find((x) => x.name === leaderName);
    if (!leader) throw new Error(`stream leader ${leaderName} is none of the nodes`);
    // This replica knows only the leader at first (it learns the others from it).
    relays.push(await startRelay(leader.url, "--stream-replicas", "3"));
    const [writer, reader] = relays;
    const subs = [await openSse(writer.url, "topic=c"), await openSse(reader.url, "topic=c")];
    const acked: number[] = [];
    const total = 300;
    for (let n = 1; n <= total; n++) {
      await publishAcked(writer.url, "c", { n });
      acked.push(n);
      if (n === 100) await leader.kill();
    }
    const got = (sub: SseReader) =>
      new Set(messages(sub).map((m) => (m.json.payload as { n: number }).n));
    for (const [i, sub] of subs.entries()) {
      await waitFor(() => acked.every((n) => got(sub).has(n)), 60_000, `every event on #${i}`)
        .catch((err) => {
          console.error(relays[i].stdout().slice(-5000), got(sub).size);
          throw err;
        });
      const seqs = messages(sub).map((m) => m.seq);
      assert.ok(seqs.every((s, k) => k === 0 || s > seqs[k - 1]), "delivered in sequence order");
      await sub.close();
    }
    const replay = await openSse(reader.url, "topic=c&since=0");
    await replay.until((e) => e.filter((x) => x.event === "message").length >= total);
    await replay.close();
    assert.ok(acked.every((n) => got(replay).has(n)), "history holds every acknowledged event");
  } finally {
    await Promise.all(relays.map((r) => r.stop("SIGKILL")));
    await nats.stop();
  }
});
