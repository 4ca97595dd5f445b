/** RelayClient against a real relay: publish paths, bounds, resumable subscriptions. */
import assert from "node:assert/strict";
import { RelayClient, RelayError, type RelayEvent } from "../../../core/relay/client/mod.ts";
import { freePort, tempDir, waitFor } from "../../helpers.ts";
import { openSse, quietLog, startRelay } from "./relay_helpers.ts";

const fast = { backoffMinMs: 20, backoffMaxMs: 200, log: quietLog };

Deno.test("publishNow returns the relay's ids; 4xx fails at once as permanent", async () => {
  const relay = await startRelay({ max_payload_bytes: 32 });
  const client = new RelayClient({ url: relay.url, ...fast });
  try {
    const r = await client.publishNow("access.intent", { tx_id: "a" });
    assert.equal(r.seq, 1);
    assert.match(r.id, /-1$/);
    assert.equal(typeof r.event_id, "string");
    await assert.rejects(
      client.publishNow("t", { big: "x".repeat(100) }),
      (e: unknown) => e instanceof RelayError && e.status === 400 && e.permanent,
    );
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("publish: an event the relay refuses for good is dropped and shown in stats until one is taken", async () => {
  const relay = await startRelay({ max_payload_bytes: 32 });
  const client = new RelayClient({ url: relay.url, ...fast });
  try {
    client.publish("t", { big: "x".repeat(100) });
    await client.flush(10_000);
    assert.equal(client.stats().dropped, 1);
    assert.match(client.stats().last_refused ?? "", /^relay answered 400/);
    assert.equal(client.stats().last_error, undefined, "nothing waits: it was dropped");
    client.publish("t", { ok: 1 });
    await client.flush(10_000);
    assert.equal(client.stats().sent, 1);
    assert.equal(client.stats().last_refused, undefined, "cleared once an event is taken");
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("publishNow against a dead relay throws after its attempts", async () => {
  const client = new RelayClient({
    url: `http://127.0.0.1:${freePort()}`,
    ...fast,
    maxAttempts: 3,
  });
  await assert.rejects(
    client.publishNow("t", {}),
    (e: unknown) => e instanceof RelayError && !e.permanent,
  );
  await client.close();
});

Deno.test("publish buffers while the relay is down and delivers in order once it is up", async () => {
  const port = freePort();
  const client = new RelayClient({ url: `http://127.0.0.1:${port}`, ...fast, bufferSize: 5 });
  for (let i = 0; i < 5; i++) assert.equal(client.publish("t", { i }), true);
  assert.equal(client.publish("t", { i: 5 }), false, "the sixth overflows the bound");
  assert.equal(client.publish("bad topic", {}), false, "invalid topics are dropped, not thrown");
  assert.equal(client.stats().dropped, 2);
  await waitFor(() => client.stats().last_error !== undefined, 15_000, "the failing send shown");
  assert.match(client.stats().last_error ?? "", /relay unreachable/);
  const relay = await startRelay({ port });
  try {
    await client.flush(20_000);
    assert.equal(client.stats().queued, 0);
    assert.equal(client.stats().last_error, undefined, "cleared once sent");
    assert.equal(client.stats().sent, 5);
    const s = await openSse(relay.url, "topic=t");
    await s.until((e) => e.filter((x) => x.event === "message").length === 5);
    assert.deepEqual(s.messages().map((m) => (m.json.payload as { i: number }).i), [0, 1, 2, 3, 4]);
    await s.close();
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("subscribe replays history, then live, and reports connected", async () => {
  const relay = await startRelay();
  const client = new RelayClient({ url: relay.url, ...fast });
  const got: RelayEvent[] = [];
  const statuses: string[] = [];
  try {
    await client.publishNow("sensor.cpu", { n: 1 });
    const sub = client.subscribe(["sensor.*"], (e) => void got.push(e), {
      onStatus: (s) => statuses.push(s),
    });
    await waitFor(() => got.length === 1, 15_000, "history");
    await client.publishNow("sensor.disk", { n: 2 });
    await client.publishNow("other", { n: 3 });
    await waitFor(() => got.length === 2, 15_000, "live");
    assert.deepEqual(got.map((e) => e.payload.n), [1, 2]);
    assert.equal(got[1].topic, "sensor.disk");
    assert.equal(got[1].seq, 2);
    assert.equal(sub.lastId(), got[1].id);
    assert.deepEqual(statuses, ["connected"]);
    sub.close();
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("subscriptions resume across a SQLite relay restart with no gap or duplicate", async () => {
  const dir = await tempDir();
  const port = freePort();
  const store = `sqlite:${dir.path}/r.db`;
  let relay = await startRelay({ port, store });
  const client = new RelayClient({ url: relay.url, ...fast });
  const got: number[] = [];
  const statuses: string[] = [];
  let resets = 0;
  try {
    const sub = client.subscribe(["t"], (e) => void got.push(e.payload.n as number), {
      onStatus: (s) => statuses.push(s),
      onReset: () => resets++,
    });
    for (let n = 1; n <= 3; n++) await client.publishNow("t", { n });
    await waitFor(() => got.length === 3, 15_000, "first events");
    await relay.close();
    await waitFor(() => statuses.includes("disconnected"), 15_000, "disconnect noticed");
    relay = await startRelay({ port, store });
    const other = new RelayClient({ url: relay.url, ...fast });
    for (let n = 4; n <= 6; n++) await other.publishNow("t", { n });
    await other.close();
    await waitFor(() => got.length >= 6, 20_000, "resumed events");
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
    assert.equal(resets, 0);
    assert.deepEqual(statuses, ["connected", "disconnected", "connected"]);
    sub.close();
  } finally {
    await client.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("a restarted memory relay makes the subscription reset, then it continues", async () => {
  const port = freePort();
  let relay = await startRelay({ port });
  const client = new RelayClient({ url: relay.url, ...fast });
  const got: number[] = [];
  const resets: Array<string | undefined> = [];
  try {
    const sub = client.subscribe(["t"], (e) => void got.push(e.payload.n as number), {
      onReset: (oldest) => resets.push(oldest),
    });
    await client.publishNow("t", { n: 1 });
    await waitFor(() => got.length === 1);
    await relay.close();
    relay = await startRelay({ port });
    const r = await client.publishNow("t", { n: 2 });
    await waitFor(() => got.length === 2, 20_000, "event after restart");
    assert.deepEqual(got, [1, 2]);
    assert.deepEqual(resets, [r.id]);
    sub.close();
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("a subscriber cut off for overflow resumes from its last id without loss", async () => {
  const relay = await startRelay({
    queue_bytes: 1024 * 1024,
    max_payload_bytes: 300_000,
    max_body_bytes: 400_000,
  });
  const client = new RelayClient({ url: relay.url, ...fast });
  const got: number[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => release = r);
  try {
    const sub = client.subscribe(["big"], async (e) => {
      if (got.length === 0) await gate; // stall on the first event until the relay cuts us off
      got.push(e.payload.n as number);
    });
    const blob = "q".repeat(200_000);
    let n = 0;
    let overflowed = false;
    while (!overflowed && n < 400) {
      await client.publishNow("big", { n: n++, blob });
      if (n % 5 === 0) {
        const m = await (await fetch(`${relay.url}/metrics`)).text();
        overflowed = !/iatp_relay_overflows_total\{[^}]*\} 0\b/.test(m);
      }
    }
    assert.ok(overflowed, "the stalled subscription overflowed");
    release();
    await waitFor(() => got.length >= n, 30_000, "all events after resume");
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i));
    sub.close();
  } finally {
    release();
    await client.close();
    await relay.close();
  }
});

Deno.test("close() flushes pending publishes", async () => {
  const relay = await startRelay();
  const client = new RelayClient({ url: relay.url, ...fast });
  try {
    for (let i = 0; i < 20; i++) client.publish("t", { i });
    await client.close();
    assert.equal(client.stats().sent, 20);
    assert.equal(client.publish("t", {}), false, "a closed client refuses publishes");
  } finally {
    await relay.close();
  }
});
