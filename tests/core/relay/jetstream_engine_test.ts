/**
 * The relay's engine (NATS JetStream) from the outside: out of reach at start (exit 2 naming the
 * setting and the URL, never its password), lost and back mid-run (503 with Retry-After, then
 * the same subscription goes on with no gap), and what replicas agree on: the authenticated
 * publisher and topic names that are not NATS subject tokens.
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Service } from "../../../core/http/mod.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { freePort, runIatp, tempDir, waitFor } from "../../helpers.ts";
import { openSse, publish, type SseReader, startRelay } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;

const TOKEN = "engine-test-token-1";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const TOKEN_ID = `token:${createHash("sha256").update(TOKEN).digest("hex").slice(0, 8)}`;

function payloads(r: SseReader): unknown[] {
  return r.messages().map((m) => m.json.payload);
}

Deno.test({
  name: "jetstream relay: an engine out of reach at start exits 2 naming store and the URL, " +
    "without the URL's password",
  ignore,
}, async () => {
  const port = freePort();
  const r = await runIatp([
    "relay",
    "--port",
    "0",
    "--store",
    `nats://app:hunter2-secret@127.0.0.1:${port}`,
    "--nats-timeout",
    "1s",
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /store/);
  assert.match(r.stderr, new RegExp(`nats://127\\.0\\.0\\.1:${port}`));
  assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
});

Deno.test({
  name: "jetstream relay: replicas agree on the authenticated publisher and on topic names " +
    "that are not NATS subject tokens (a..b, x.), on a stream whose age bound is shorter than " +
    "the duplicate window",
  ignore,
}, async () => {
  const nats = await startNats();
  const relays: Service[] = [];
  try {
    const tokens = { [TOKEN]: ["publish:*", "subscribe:*"] };
    for (let i = 0; i < 2; i++) {
      relays.push(
        await startRelay({ store: nats.url, tokens, compat: "iatp", retention_age: 60_000 }),
      );
    }
    const [a, b] = relays;
    const sub = await openSse(a.url, "topic=a.*&topic=x.", AUTH);
    for (const topic of ["a..b", "x.", "a.b", "a"]) {
      const r = await publish(b.url, topic, { topic, publisher: "forged" }, AUTH);
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    await sub.until((e) => e.filter((x) => x.event === "message").length >= 3, 15_000);
    const got = sub.messages().map((m) => [m.json.topic, m.json.publisher]);
    assert.deepEqual(got, [["a..b", TOKEN_ID], ["x.", TOKEN_ID], ["a.b", TOKEN_ID]]);
    assert.deepEqual(payloads(sub)[0], { topic: "a..b", publisher: "forged" });
    await sub.close();
    const topics = await (await fetch(`${a.url}/topics`, { headers: AUTH })).json();
    assert.deepEqual(
      JSON.stringify(topics).match(/"(a\.\.b|x\.|a\.b|a)"/g)?.sort(),
      ['"a"', '"a..b"', '"a.b"', '"x."'],
    );
  } finally {
    await Promise.all(relays.map((r) => r.close()));
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: the engine lost mid-run answers publishes 503 with Retry-After; once " +
    "it is back the same subscription goes on with no gap or duplicate",
  ignore,
}, async () => {
  const nats = await startNats();
  let relay: Service | undefined;
  try {
    relay = await startRelay({ store: nats.url, compat: "iatp" });
    const url = relay.url;
    const sub = await openSse(url, "topic=o");
    for (let n = 1; n <= 5; n++) assert.equal((await publish(url, "o", { n })).status, 201);
    await sub.until((e) => e.filter((x) => x.event === "message").length >= 5, 15_000);
    await nats.nodes[0].kill();
    await waitFor(
      async () => (await (await fetch(`${url}/health`)).json()).engine === "unreachable",
      15_000,
      "the relay to notice the engine is gone",
    );
    const degraded = await (await fetch(`${url}/health`)).json();
    assert.equal(degraded.status, "degraded");
    assert.equal(degraded.reason, "store: the relay's engine is unreachable");
    assert.doesNotMatch(JSON.stringify(degraded), /nats:\/\//, "no engine URL in the reason");
    const down = await fetch(`${url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "o", payload: { n: "refused" } }),
    });
    assert.equal(down.status, 503);
    assert.equal(down.headers.get("retry-after"), "1");
    assert.match((await down.json()).error, /engine/);
    await nats.nodes[0].restart();
    let n = 6;
    await waitFor(
      async () => {
        const r = await publish(url, "o", { n });
        if (r.status === 201) n++;
        else assert.equal(r.status, 503, JSON.stringify(r.body));
        return n > 10;
      },
      30_000,
      "publishes acknowledged again",
    );
    await sub.until((e) => e.filter((x) => x.event === "message").length >= 10, 30_000);
    const seqs = sub.messages().map((m) => m.json.seq as number);
    assert.deepEqual(payloads(sub), Array.from({ length: 10 }, (_, i) => ({ n: i + 1 })));
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), "in sequence order");
    const health = await (await fetch(`${url}/health`)).json();
    assert.equal(health.engine, "connected");
    assert.equal(health.status, "ok");
    await sub.close();
  } finally {
    await relay?.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: a server that requires a user is refused without one (a config " +
    "error naming store) and served with nats.user and a file:PATH password",
  ignore,
}, async () => {
  const nats = await startNats(1, { user: "relay", pass: "pw-in-a-file-1" });
  const dir = await tempDir();
  let relay: Service | undefined;
  try {
    await assert.rejects(
      startRelay({ store: nats.url, nats: { timeout: 1_000 } }),
      (err: Error) => /store/.test(err.message) && /127\.0\.0\.1/.test(err.message),
    );
    const file = `${dir.path}/nats-password`;
    await Deno.writeTextFile(file, "pw-in-a-file-1\n");
    relay = await startRelay({
      store: nats.url,
      compat: "iatp",
      nats: { user: "relay", password: `file:${file}` },
    });
    assert.equal((await publish(relay.url, "t", { n: 1 })).status, 201);
  } finally {
    await relay?.close();
    await dir.remove();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: a password the server refuses is a config error naming nats.password " +
    "(not store), without the password",
  ignore,
}, async () => {
  const nats = await startNats(1, { user: "relay", pass: "right-pw-1" });
  try {
    await assert.rejects(
      startRelay({
        store: nats.url,
        nats: { user: "relay", password: "wrong-pw-secret-1", timeout: 1_000 },
      }),
      (err: Error) => {
        assert.equal((err as Error & { key?: string }).key, "nats.password", err.message);
        assert.match(err.message, /^nats\.password \(/);
        assert.match(err.message, /127\.0\.0\.1/);
        assert.match(err.message, /Authorization Violation/);
        assert.doesNotMatch(err.message, /wrong-pw-secret-1|right-pw-1/);
        return true;
      },
    );
  } finally {
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: two replicas writing one topic at once: every publish acknowledged, " +
    "both replicas replay the same events in the same order, with no false reset",
  ignore,
}, async () => {
  const nats = await startNats();
  const relays: Service[] = [];
  try {
    for (let i = 0; i < 2; i++) relays.push(await startRelay({ store: nats.url, compat: "iatp" }));
    const perWriter = 100;
    const acked = await Promise.all(
      [0, 1, 2, 3].map(async (w) => {
        const out: number[] = [];
        for (let n = 0; n < perWriter; n++) {
          const r = await publish(relays[w % 2].url, "shared", { w, n });
          assert.equal(r.status, 201, JSON.stringify(r.body));
          out.push(r.body.seq as number);
        }
        return out;
      }),
    );
    const all = acked.flat().sort((x, y) => x - y);
    assert.equal(new Set(all).size, 4 * perWriter);
    const seen: unknown[][] = [];
    for (const relay of relays) {
      const r = await openSse(relay.url, "topic=shared&since=0");
      await r.until((e) => e.filter((x) => x.event === "message").length >= all.length, 15_000);
      await r.close();
      assert.ok(!r.events.some((e) => e.event === "reset"), "no reset: nothing was evicted");
      assert.deepEqual(r.messages().map((m) => m.json.seq), all);
      seen.push(payloads(r));
    }
    assert.deepEqual(seen[0], seen[1]);
  } finally {
    await Promise.all(relays.map((r) => r.close()));
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: the topic bound answers 507 and the pending-publish bound 503 with " +
    "Retry-After; every publish acknowledged is delivered",
  ignore,
}, async () => {
  const nats = await startNats();
  let relay: Service | undefined;
  try {
    relay = await startRelay({
      store: nats.url,
      compat: "iatp",
      max_topics: 2,
      max_pending_publishes: 1,
    });
    const url = relay.url;
    assert.equal((await publish(url, "t1", { n: 0 })).status, 201);
    assert.equal((await publish(url, "t2", { n: 0 })).status, 201);
    // The bound counts the topics this replica has read back from the stream (documented: per
    // replica, eventually), so wait until it lists both.
    await waitFor(
      async () => {
        const res = await fetch(`${url}/topics`);
        const body = await res.json() as { topics: Array<{ topic: string }> };
        return body.topics.length === 2;
      },
      10_000,
      "the relay to index t1 and t2",
    );
    assert.equal((await publish(url, "t3", { n: 0 })).status, 507);
    const sub = await openSse(url, "topic=t1");
    const answers = await Promise.all(Array.from({ length: 40 }, async (_, n) => {
      const res = await fetch(`${url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "t1", payload: { n: n + 1 } }),
      });
      const body = await res.json();
      if (res.status === 503) assert.equal(res.headers.get("retry-after"), "1");
      else assert.equal(res.status, 201, JSON.stringify(body));
      return { status: res.status, n: n + 1 };
    }));
    const acked = answers.filter((a) => a.status === 201).map((a) => a.n);
    assert.ok(answers.some((a) => a.status === 503), "40 at once exceed one pending publish");
    assert.ok(acked.length > 0);
    // The subscription replays t1's first event (n 0), then the acknowledged ones.
    const all = acked.length + 1;
    await sub.until((e) => e.filter((x) => x.event === "message").length >= all, 15_000);
    const got = payloads(sub).map((p) => (p as { n: number }).n).filter((n) => n > 0);
    assert.deepEqual([...got].sort((x, y) => x - y), acked);
    await sub.close();
  } finally {
    await relay?.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: one publisher's share of topics holds for publishes in flight at once " +
    "and on a replica started later; another publisher still creates topics",
  ignore,
}, async () => {
  const nats = await startNats();
  const relays: Service[] = [];
  try {
    const tokenB = "engine-test-token-2";
    const tokens = {
      [TOKEN]: ["publish:sensor.*", "subscribe:*"],
      [tokenB]: ["publish:sensor.*", "subscribe:*"],
    };
    const B = { authorization: `Bearer ${tokenB}` };
    const settings = {
      store: nats.url,
      tokens,
      compat: "iatp" as const,
      max_topics_per_principal: 3,
    };
    relays.push(await startRelay(settings));
    const url = relays[0].url;
    // Before the tail reads any of them back: the topics being created count too.
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => publish(url, `sensor.a${i}`, { i }, AUTH)),
    );
    assert.equal(answers.filter((a) => a.status === 201).length, 3, JSON.stringify(answers));
    for (const a of answers.filter((a) => a.status !== 201)) {
      assert.equal(a.status, 403, JSON.stringify(a.body));
      assert.equal(a.body.setting, "max_topics_per_principal");
    }
    const mine = answers.flatMap((a, i) => a.status === 201 ? [`sensor.a${i}`] : []);
    assert.equal((await publish(url, mine[0], { again: 1 }, AUTH)).status, 201);
    assert.equal((await publish(url, "sensor.b0", {}, B)).status, 201);
    // A replica started now counts the topics from the stream, with their publishers.
    relays.push(await startRelay(settings));
    const later = relays[1].url;
    const refused = await publish(later, "sensor.a9", {}, AUTH);
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.setting, "max_topics_per_principal");
    assert.equal((await publish(later, mine[1], { again: 2 }, AUTH)).status, 201);
    assert.equal((await publish(later, "sensor.b1", {}, B)).status, 201);
    assert.equal((await publish(later, "sensor.b2", {}, B)).status, 201);
    assert.equal((await publish(later, "sensor.b3", {}, B)).status, 403);
  } finally {
    await Promise.all(relays.map((r) => r.close()));
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: an id handed out by one replica resumes at once on the other (no " +
    "'ahead' reset while its tail catches up)",
  ignore,
}, async () => {
  const nats = await startNats();
  const relays: Service[] = [];
  try {
    for (let i = 0; i < 2; i++) relays.push(await startRelay({ store: nats.url, compat: "iatp" }));
    const [a, b] = relays;
    for (let n = 0; n < 10; n++) {
      const first = await publish(a.url, "hop", { n, k: 1 });
      const sub = await openSse(b.url, "topic=hop", { "Last-Event-ID": String(first.body.id) });
      await publish(a.url, "hop", { n, k: 2 });
      await sub.until((e) => e.some((x) => x.event === "message" || x.event === "reset"), 15_000);
      await sub.close();
      assert.ok(!sub.events.some((e) => e.event === "reset"), "no reset");
      assert.deepEqual(payloads(sub)[0], { n, k: 2 });
    }
  } finally {
    await Promise.all(relays.map((r) => r.close()));
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: a replica closed right after it started stops (its tail may still be " +
    "making its consumer)",
  ignore,
}, async () => {
  const nats = await startNats();
  try {
    for (let i = 0; i < 15; i++) {
      const relay = await startRelay({ store: nats.url, compat: "iatp" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stuck = new Promise<string>((r) => timer = setTimeout(() => r("stuck"), 15_000));
      const closed = relay.close().then(() => "closed");
      assert.equal(await Promise.race([closed, stuck]), "closed", `close #${i}`);
      clearTimeout(timer);
    }
  } finally {
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: the age bound is the stream's max_age; the replica's index follows " +
    "it (the topic freed) and a resume from an aged-out event gets a truncated reset",
  ignore,
}, async () => {
  const nats = await startNats();
  let relay: Service | undefined;
  try {
    relay = await startRelay({
      store: nats.url,
      compat: "iatp",
      retention_age: 1_500,
      expire_interval: 100,
    });
    const url = relay.url;
    const first = await publish(url, "aged", { n: 1 });
    await publish(url, "aged", { n: 2 });
    const jsm = await nats.manager();
    assert.equal((await jsm.streams.info("IATP_RELAY")).config.max_age, 1_500_000_000);
    const listed = async () => {
      const body = await (await fetch(`${url}/topics`)).json();
      return body.topics.some((t: { topic: string }) => t.topic === "aged");
    };
    // Every event gone: the topic is freed.
    await waitFor(async () => !await listed(), 30_000, "the index to age the topic out");
    await waitFor(
      async () => (await jsm.streams.info("IATP_RELAY")).state.messages === 0,
      30_000,
      "the stream to age them out",
    );
    const sub = await openSse(url, "topic=aged", { "Last-Event-ID": String(first.body.id) });
    await sub.until((e) => e.some((x) => x.event === "reset"), 15_000);
    await sub.close();
    const reset = sub.events.find((e) => e.event === "reset")!;
    assert.equal(JSON.parse(reset.data).reason, "truncated");
  } finally {
    await relay?.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: an existing stream that does not hold the relay's subjects is a " +
    "config error naming stream_subjects (exit 2); its publishes never go to another stream",
  ignore,
}, async () => {
  const nats = await startNats();
  try {
    const jsm = await nats.manager();
    // The operator's own stream under the relay's name, and the default relay stream, which
    // holds `relay.>`: a publish on the first would be taken by the second.
    await jsm.streams.add({ name: "OPS_EVENTS", subjects: ["ops.>"] });
    await jsm.streams.add({ name: "IATP_RELAY", subjects: ["relay.>"] });
    const r = await runIatp([
      "relay",
      "--port",
      "0",
      "--store",
      nats.url,
      "--stream",
      "OPS_EVENTS",
      "--nats-timeout",
      "2s",
    ], { timeoutMs: 20_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /stream_subjects \(built-in default\)/);
    assert.match(r.stderr, /OPS_EVENTS to include relay\.>, found ops\.>/);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    assert.equal((await jsm.streams.info("IATP_RELAY")).state.messages, 0);
    assert.deepEqual((await jsm.streams.info("OPS_EVENTS")).config.subjects, ["ops.>"]);
  } finally {
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: an existing stream made with no_ack (it stores publishes and answers " +
    "none) is brought to acknowledging at start, so publishes get 201, not 503 while stored",
  ignore,
}, async () => {
  const nats = await startNats();
  let relay: Service | undefined;
  try {
    const jsm = await nats.manager();
    await jsm.streams.add({ name: "IATP_RELAY", subjects: ["relay.>"], no_ack: true });
    relay = await startRelay({ store: nats.url, compat: "iatp", nats: { timeout: 2_000 } });
    const r = await publish(relay.url, "t", { n: 1 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const info = await jsm.streams.info("IATP_RELAY");
    assert.ok(!info.config.no_ack);
    assert.equal(info.state.messages, 1);
  } finally {
    await relay?.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream relay: user and password written in the store URL (percent-encoded) are the " +
    "credentials it connects with, and a wrong one is refused without showing it",
  ignore,
}, async () => {
  const pass = "p@ss:w/rd%1";
  const nats = await startNats(1, { user: "relay", pass });
  const port = nats.nodes[0].port;
  let relay: Service | undefined;
  try {
    relay = await startRelay({
      store: `nats://relay:${encodeURIComponent(pass)}@127.0.0.1:${port}`,
      compat: "iatp",
    });
    assert.equal((await publish(relay.url, "t", { n: 1 })).status, 201);
    const r = await runIatp([
      "relay",
      "--port",
      "0",
      "--store",
      `nats://relay:wrong-s3cret@127.0.0.1:${port}`,
      "--nats-timeout",
      "2s",
    ], { timeoutMs: 20_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`store .*nats://127\\.0\\.0\\.1:${port}: Authorization`));
    assert.doesNotMatch(r.stderr + r.stdout, /wrong-s3cret/);
  } finally {
    await relay?.close();
    await nats.stop();
  }
});

Deno.test(
  "jetstream relay: a store URL whose password holds an unencoded `,` is a config error that " +
    "shows no part of the password",
  async () => {
    const r = await runIatp([
      "relay",
      "--port",
      "0",
      "--store",
      `nats://relay:Pw1-s3cret/x,tail@127.0.0.1:${freePort()}`,
    ], { timeoutMs: 20_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /store .*percent-encode/);
    assert.doesNotMatch(r.stderr + r.stdout, /s3cret|tail/);
  },
);
