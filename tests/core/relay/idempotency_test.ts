/**
 * `Idempotency-Key` on `POST /publish`, on real relays (memory, SQLite, SQLite with
 * `--workers 2`, NATS JetStream): a keyed publish sent twice, one after the other or at once, is
 * stored once and both answers carry the same event id and sequence, the repeat with
 * `Idempotent-Replayed: true`; a key used again for another payload is refused (422); an invalid
 * key is refused (400, or FastAPI's 422 under `compat: upstream`); a SQLite relay restarted
 * within `duplicate_window` still answers a retry as the first; and the relay client, whose
 * first answer a proxy holds past its request deadline, leaves exactly one event on the relay.
 * @module
 */
import assert from "node:assert/strict";
import type { Service } from "../../../core/http/mod.ts";
import { keyedEventId, RelayClient } from "../../../core/relay/mod.ts";
import { IdempotencyConflictError, IdempotencyKeys } from "../../../core/relay/idempotency.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { tempDir } from "../../helpers.ts";
import { startRelay } from "./relay_helpers.ts";

const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  replayed: string | null;
}

async function post(
  url: string,
  topic: string,
  payload: Record<string, unknown>,
  key?: string,
  path = "/publish",
): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key !== undefined) headers["idempotency-key"] = key;
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    headers,
    body: JSON.stringify({ topic, payload }),
  });
  return {
    status: res.status,
    body: await res.json(),
    replayed: res.headers.get("idempotent-replayed"),
  };
}

/** Events retained on `topic`, as GET /topics says. */
async function countOn(url: string, topic: string): Promise<number> {
  const body = await (await fetch(`${url}/topics`)).json() as {
    topics: Array<{ topic: string; count: number }>;
  };
  return body.topics.find((t) => t.topic === topic)?.count ?? 0;
}

/** The checks every store must pass. */
async function keyedPublishes(url: string): Promise<void> {
  // One after the other.
  const first = await post(url, "idem.a", { n: 1 }, "key-1");
  const again = await post(url, "idem.a", { n: 1 }, "key-1");
  assert.equal(first.status, 201);
  assert.equal(first.replayed, null);
  assert.equal(again.status, 201);
  assert.equal(again.replayed, "true");
  assert.match(String(first.body.event_id), UUID_V8);
  assert.deepEqual(again.body, first.body);
  assert.equal(await countOn(url, "idem.a"), 1);
  // At once.
  const both = await Promise.all([
    post(url, "idem.b", { n: 2 }, "key-2"),
    post(url, "idem.b", { n: 2 }, "key-2"),
  ]);
  assert.deepEqual(both[0].body, both[1].body);
  assert.deepEqual(both.map((a) => a.status), [201, 201]);
  assert.deepEqual(both.map((a) => a.replayed).sort(), ["true", null].sort());
  assert.equal(await countOn(url, "idem.b"), 1);
  // The same key for another payload (or topic) is refused; nothing is stored.
  const other = await post(url, "idem.a", { n: 99 }, "key-1");
  assert.equal(other.status, 422);
  assert.match(String(other.body.error), /Idempotency-Key/);
  const elsewhere = await post(url, "idem.c", { n: 1 }, "key-1");
  assert.equal(elsewhere.status, 422);
  assert.equal(await countOn(url, "idem.a"), 1);
  assert.equal(await countOn(url, "idem.c"), 0);
  // Unkeyed publishes are each stored; another key is another event.
  await post(url, "idem.a", { n: 1 });
  await post(url, "idem.a", { n: 1 });
  const k3 = await post(url, "idem.a", { n: 1 }, "key-3");
  assert.equal(k3.replayed, null);
  assert.notEqual(k3.body.event_id, first.body.event_id);
  assert.equal(await countOn(url, "idem.a"), 4);
  // An invalid key is refused before anything is stored.
  for (const bad of ["", "a b", "x".repeat(129), "é"]) {
    const res = await fetch(`${url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": bad },
      body: JSON.stringify({ topic: "idem.a", payload: {} }),
    }).catch(() => undefined); // a header fetch cannot send at all is no case here
    if (!res) continue;
    const body = await res.json();
    assert.equal(res.status, 400, `key ${JSON.stringify(bad)}`);
    assert.match(String(body.error), /Idempotency-Key/);
  }
  assert.equal(await countOn(url, "idem.a"), 4);
}

for (const [store, workers] of [["memory", 1], ["sqlite", 1], ["sqlite", 2]] as const) {
  Deno.test(`a ${store} relay on ${workers} isolate(s) stores a keyed publish once`, async () => {
    const dir = await tempDir();
    let relay: Service | undefined;
    try {
      relay = await startRelay({
        store: store === "memory" ? "memory" : `sqlite:${dir.path}/relay.db`,
        workers,
        compat: "iatp",
      });
      await keyedPublishes(relay.url);
      // Each on a connection of its own (with --workers, spread over the isolates by the kernel).
      const answers = [];
      for (let i = 0; i < 8; i++) {
        const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
        try {
          const res = await fetch(`${relay.url}/publish`, {
            method: "POST",
            client,
            headers: { "content-type": "application/json", "idempotency-key": "key-spread" },
            body: JSON.stringify({ topic: "idem.s", payload: { n: 1 } }),
          });
          answers.push({
            body: await res.json(),
            replayed: res.headers.get("idempotent-replayed"),
          });
        } finally {
          client.close();
        }
      }
      assert.equal(answers.filter((a) => a.replayed === "true").length, 7);
      for (const a of answers) assert.deepEqual(a.body, answers[0].body);
      assert.equal(await countOn(relay.url, "idem.s"), 1);
    } finally {
      await relay?.close();
      await dir.remove();
    }
  });
}

for (const workers of [1, 2]) {
  Deno.test(`a sqlite relay on ${workers} isolate(s) restarted answers a retry of a keyed publish it stored before`, async () => {
    const dir = await tempDir();
    const store = `sqlite:${dir.path}/relay.db`;
    let relay: Service | undefined;
    try {
      relay = await startRelay({ store, workers, compat: "iatp" });
      const payload = {
        text: 'caf\u00e9 "q" \\ {}',
        list: [1, 2.5, -0, 1e21, null],
        deep: { a: [] },
      };
      const first = await post(relay.url, "idem.r", payload, "key-r");
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.equal((await post(relay.url, "idem.r", { n: 1 })).status, 201); // unkeyed after it
      assert.equal((await post(relay.url, "idem.q", { n: 2 }, "key-q")).status, 201);
      await relay.close();
      relay = await startRelay({ store, workers, compat: "iatp" });

      const again = await post(relay.url, "idem.r", payload, "key-r");
      assert.equal(again.status, 201, JSON.stringify(again.body));
      assert.equal(again.replayed, "true");
      assert.deepEqual(again.body, first.body);
      const other = await post(relay.url, "idem.r", { ...payload, text: "other" }, "key-r");
      assert.equal(other.status, 422, JSON.stringify(other.body));
      assert.equal((await post(relay.url, "idem.q", { n: 2 }, "key-q")).replayed, "true");
      assert.equal(await countOn(relay.url, "idem.r"), 2);
      assert.equal(await countOn(relay.url, "idem.q"), 1);
    } finally {
      await relay?.close();
      await dir.remove();
    }
  });
}

Deno.test("a sqlite relay restarted past duplicate_window stores a retry of a keyed publish again", async () => {
  const dir = await tempDir();
  const store = `sqlite:${dir.path}/relay.db`;
  let relay: Service | undefined;
  try {
    relay = await startRelay({ store, compat: "iatp", duplicate_window: 1_000 });
    const first = await post(relay.url, "idem.w", { n: 1 }, "key-w");
    assert.equal(first.status, 201);
    await relay.close();
    await new Promise((r) => setTimeout(r, 1_200));
    relay = await startRelay({ store, compat: "iatp", duplicate_window: 1_000 });
    const again = await post(relay.url, "idem.w", { n: 1 }, "key-w");
    assert.equal(again.status, 201);
    assert.equal(again.replayed, null);
    assert.equal(again.body.event_id, first.body.event_id);
    assert.equal(again.body.seq, Number(first.body.seq) + 1);
  } finally {
    await relay?.close();
    await dir.remove();
  }
});

Deno.test({
  name: "a nats relay stores a keyed publish once, on the replica that stored it and on another",
  ignore: natsMissing !== undefined,
  fn: async () => {
    const nats = await startNats();
    let a: Service | undefined, b: Service | undefined;
    try {
      a = await startRelay({ store: nats.url, compat: "iatp" });
      await keyedPublishes(a.url);
      // Another replica has no memory of the key: the engine's duplicate window drops it, and
      // the answer is the first one's.
      b = await startRelay({ store: nats.url, compat: "iatp" });
      const first = await post(a.url, "idem.d", { n: 5 }, "key-5");
      const other = await post(b.url, "idem.d", { n: 5 }, "key-5");
      assert.equal(first.replayed, null);
      assert.equal(other.replayed, "true");
      assert.deepEqual(other.body, first.body);
      assert.equal(await countOn(b.url, "idem.d"), 1);
      assert.equal(await countOn(a.url, "idem.d"), 1);
    } finally {
      await b?.close();
      await a?.close();
      await nats.stop();
    }
  },
});

Deno.test("under compat upstream a keyed publish is replayed with 200; an invalid key is FastAPI's 422", async () => {
  const relay = await startRelay({ compat: "upstream" });
  try {
    const first = await post(relay.url, "idem.u", { n: 1 }, "k");
    const again = await post(relay.url, "idem.u", { n: 1 }, "k");
    assert.equal(first.status, 200);
    assert.equal(again.status, 200);
    assert.equal(again.replayed, "true");
    assert.deepEqual(again.body, first.body);
    const res = await fetch(`${relay.url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "x".repeat(129) },
      body: JSON.stringify({ topic: "idem.u", payload: {} }),
    });
    const body = await res.json();
    assert.equal(res.status, 422);
    assert.deepEqual(body.detail[0].loc, ["header", "idempotency-key"]);
    assert.equal(await countOn(relay.url, "idem.u"), 1);
  } finally {
    await relay.close();
  }
});

Deno.test("the Hono path (a percent-escaped /publish) takes the key as the raw path does", async () => {
  const relay = await startRelay({ compat: "iatp" });
  try {
    const first = await post(relay.url, "idem.h", { n: 1 }, "k", "/publish");
    const again = await post(relay.url, "idem.h", { n: 1 }, "k", "/%70ublish");
    assert.equal(again.status, 201);
    assert.equal(again.replayed, "true");
    assert.deepEqual(again.body, first.body);
    const other = await post(relay.url, "idem.h", { n: 2 }, "k", "/%70ublish");
    assert.equal(other.status, 422);
    // The repeat is not counted as a publish.
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    assert.match(metrics, /^iatp_relay_published_total\{[^}]*\} 1$/m);
    const bad = await post(relay.url, "idem.h", { n: 1 }, "a b", "/%70ublish");
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /Idempotency-Key/);
    assert.equal(await countOn(relay.url, "idem.h"), 1);
  } finally {
    await relay.close();
  }
});

Deno.test("the keys remembered are bounded by their number and their age, the oldest forgotten first", () => {
  const keys = new IdempotencyKeys(2, 1_000);
  let seq = 0;
  const store = () => ({ seq: ++seq, replayed: false });
  assert.deepEqual(keys.run("a", "d", 0, store), { seq: 1, replayed: false });
  assert.deepEqual(keys.run("b", "d", 10, store), { seq: 2, replayed: false });
  assert.deepEqual(keys.run("a", "d", 20, store), { seq: 1, replayed: true });
  assert.deepEqual(keys.run("c", "d", 30, store), { seq: 3, replayed: false });
  assert.equal(keys.size, 2);
  // "a", the oldest, was forgotten for "c": stored again.
  assert.deepEqual(keys.run("a", "d", 40, store), { seq: 4, replayed: false });
  // Past the window a key is another publish.
  assert.deepEqual(keys.run("a", "d", 40 + 1_001, store), { seq: 5, replayed: false });
  assert.throws(() => keys.run("a", "other", 1_100, store), /another event/);
  const none = new IdempotencyKeys(0, 1_000);
  none.run("x", "d", 0, store);
  assert.deepEqual(none.run("x", "d", 0, store), { seq: 7, replayed: false });
});

Deno.test("a publish waiting on another event of its key being stored is judged by that one's outcome", async () => {
  // With --workers (or replicas on one stream) an isolate forwards keyed publishes to the store
  // that decides; the first one it forwarded for a key may be refused there, because another
  // isolate stored a second event under the key first. A retry of that stored event must then be
  // answered as stored, not refused for the event that lost.
  const keys = new IdempotencyKeys(10, 60_000);
  let refuseLoser!: (err: unknown) => void;
  const loser = keys.run("id", "lost", 0, () =>
    new Promise<never>((_, reject) => {
      refuseLoser = reject;
    }));
  const loserSettled = Promise.resolve(loser).then(() => "stored", (e) => e);
  let asked = 0;
  const winner = keys.run("id", "won", 1, () => {
    asked++;
    return Promise.resolve({ seq: 7, replayed: true }); // the deciding store had it already
  });
  const winnerSettled = Promise.resolve(winner).then((s) => s, (e) => e);
  refuseLoser(new IdempotencyConflictError());
  assert.ok(await loserSettled instanceof IdempotencyConflictError);
  assert.deepEqual(await winnerSettled, { seq: 7, replayed: true });
  assert.equal(asked, 1, "asked the deciding store once the first was refused");
  // Now remembered: a third digest is refused at once; the winner's retries are replayed.
  assert.throws(() => keys.run("id", "third", 2, () => ({ seq: 0, replayed: false })), /another/);
  assert.deepEqual(keys.run("id", "won", 3, () => ({ seq: 0, replayed: false })), {
    seq: 7,
    replayed: true,
  });
  // An event of the key stored while another waits still refuses that other.
  const first = keys.run("id2", "a", 0, () => Promise.resolve({ seq: 8, replayed: false }));
  const second = Promise.resolve(keys.run("id2", "b", 0, () => ({ seq: 9, replayed: false })))
    .then((s) => s, (e) => e);
  assert.deepEqual(await first, { seq: 8, replayed: false });
  assert.ok(await second instanceof IdempotencyConflictError);
});

Deno.test("a keyed event id depends on the publisher and the key alone", () => {
  assert.equal(keyedEventId("ops", "k"), keyedEventId("ops", "k"));
  assert.match(keyedEventId(undefined, "k"), UUID_V8);
  const ids = new Set([
    keyedEventId("ops", "k"),
    keyedEventId("dev", "k"),
    keyedEventId(undefined, "k"),
    keyedEventId("ops", "k2"),
  ]);
  assert.equal(ids.size, 4);
});

/**
 * A TCP proxy to `target` that forwards every request, but holds back the answer to the first
 * connection (the relay stores the publish; the client never hears so) until that connection
 * is closed by the client.
 */
function holdFirstAnswer(target: URL) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let n = 0;
  const conns = new Set<Deno.Conn>();
  const firstArrived = Promise.withResolvers<void>();
  (async () => {
    for await (const client of listener) {
      const first = n++ === 0;
      const upstream = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
      conns.add(client);
      conns.add(upstream);
      const close = () => {
        for (const c of [client, upstream]) {
          conns.delete(c);
          try {
            c.close();
          } catch { /* closed */ }
        }
      };
      client.readable.pipeTo(upstream.writable).catch(() => {}).finally(close);
      if (first) {
        // Read the relay's answer and drop it: the client waits past its deadline.
        (async () => {
          for await (const _ of upstream.readable) firstArrived.resolve();
        })().catch(() => {}).finally(close);
      } else {
        upstream.readable.pipeTo(client.writable).catch(() => {}).finally(close);
      }
    }
  })().catch(() => {});
  const addr = listener.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    firstArrived: firstArrived.promise,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

for (const how of ["publishNow", "publish"] as const) {
  Deno.test(`the relay client's ${how} retried after a lost answer leaves one event on the relay`, async () => {
    const relay = await startRelay({ compat: "iatp" });
    const proxy = holdFirstAnswer(new URL(relay.url));
    const client = new RelayClient({
      url: proxy.url,
      requestTimeoutMs: 300,
      backoffMinMs: 10,
      backoffMaxMs: 20,
    });
    try {
      if (how === "publishNow") {
        const a = await client.publishNow("idem.client", { n: 1 });
        assert.match(a.event_id, UUID_V8);
      } else {
        assert.equal(client.publish("idem.client", { n: 1 }), true);
        await client.flush(30_000);
      }
      await proxy.firstArrived; // the first attempt was answered by the relay, and lost
      assert.equal(await countOn(relay.url, "idem.client"), 1);
    } finally {
      await client.close();
      proxy.close();
      await relay.close();
    }
  });
}
