/** Relay server over real sockets: publish, replay, resume, reset, wildcards, bounds. */
import assert from "node:assert/strict";
import { tempDir, waitFor } from "../../helpers.ts";
import { openSse, publish, seqs, startRelay } from "./relay_helpers.ts";

Deno.test("publish answers 200 (201 under compat iatp) with event_id, seq and a resumable id", async () => {
  const iatp = await startRelay({ compat: "iatp" });
  try {
    assert.equal((await publish(iatp.url, "access.intent", { tx_id: "t1" })).status, 201);
  } finally {
    await iatp.close();
  }
  const relay = await startRelay();
  try {
    const r = await publish(relay.url, "access.intent", { tx_id: "t1" });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "ok");
    assert.equal(typeof r.body.event_id, "string");
    assert.equal(r.body.seq, 1);
    assert.match(String(r.body.id), /^[a-z0-9]+-1$/);
  } finally {
    await relay.close();
  }
});

Deno.test("subscribe replays retained history, then delivers live events", async () => {
  const relay = await startRelay();
  try {
    for (let i = 0; i < 3; i++) await publish(relay.url, "a.x", { i });
    await publish(relay.url, "other", { skip: true });
    const s = await openSse(relay.url, "topic=a.x");
    await s.until((e) => e.filter((x) => x.event === "message").length === 3, 15_000, "history");
    await publish(relay.url, "a.x", { i: 3 });
    await s.until((e) => e.filter((x) => x.event === "message").length === 4, 15_000, "live");
    const msgs = s.messages();
    assert.deepEqual(msgs.map((m) => (m.json.payload as { i: number }).i), [0, 1, 2, 3]);
    for (const m of msgs) {
      assert.deepEqual(
        Object.keys(m.json).sort(),
        ["event_id", "id", "payload", "seq", "topic", "ts", "ts_iso"],
      );
      assert.equal(m.json.id, m.json.event_id);
      assert.equal(m.json.ts, Date.parse(String(m.json.ts_iso)) / 1000, "float seconds");
      assert.equal(m.id, `${String(m.id).split("-")[0]}-${m.json.seq}`);
      assert.equal(m.json.topic, "a.x");
    }
    await s.close();
  } finally {
    await relay.close();
  }
});

Deno.test("Last-Event-ID and ?since= resume with no gap and no duplicate", async () => {
  const relay = await startRelay();
  try {
    for (let i = 0; i < 3; i++) await publish(relay.url, "t", { i });
    const first = await openSse(relay.url, "topic=t");
    await first.until((e) => e.filter((x) => x.event === "message").length === 3);
    const lastId = first.messages()[2].id!;
    await first.close();
    for (let i = 3; i < 6; i++) await publish(relay.url, "t", { i });
    const byHeader = await openSse(relay.url, "topic=t", { "last-event-id": lastId });
    const bySince = await openSse(relay.url, `topic=t&since=${encodeURIComponent(lastId)}`);
    for (const s of [byHeader, bySince]) {
      await s.until((e) => e.filter((x) => x.event === "message").length >= 3);
      await publish(relay.url, "t", { marker: true }).then(() => {});
    }
    for (const s of [byHeader, bySince]) {
      await s.until((e) => e.some((x) => x.data.includes("marker")));
      const got = seqs(s);
      assert.deepEqual(got.slice(0, 3), [4, 5, 6]);
      assert.equal(new Set(got).size, got.length, "no duplicates");
      assert.ok(!s.events.some((e) => e.event === "reset"));
      await s.close();
    }
  } finally {
    await relay.close();
  }
});

Deno.test("a position lost to truncation gets one reset with the oldest retained id", async () => {
  const relay = await startRelay({ retention_events: 5 });
  try {
    const ids: string[] = [];
    for (let i = 1; i <= 10; i++) ids.push(String((await publish(relay.url, "t", { i })).body.id));
    const s = await openSse(relay.url, "topic=t", { "last-event-id": ids[1] });
    await s.until((e) => e.filter((x) => x.event === "message").length === 5);
    assert.equal(s.events[0].event, "reset");
    const reset = JSON.parse(s.events[0].data);
    assert.equal(reset.reason, "truncated");
    assert.equal(reset.oldest, ids[5]);
    assert.deepEqual(seqs(s), [6, 7, 8, 9, 10]);
    assert.equal(s.events.filter((e) => e.event === "reset").length, 1);
    await s.close();
    // A retained position still resumes without a reset.
    const ok = await openSse(relay.url, "topic=t", { "last-event-id": ids[7] });
    await ok.until((e) => e.filter((x) => x.event === "message").length === 2);
    assert.ok(!ok.events.some((e) => e.event === "reset"));
    await ok.close();
  } finally {
    await relay.close();
  }
});

Deno.test("a restarted memory relay has a new epoch: resuming clients reset", async () => {
  const a = await startRelay();
  const old = String((await publish(a.url, "t", { n: 1 })).body.id);
  await a.close();
  const b = await startRelay();
  try {
    await publish(b.url, "t", { n: 2 });
    const s = await openSse(b.url, "topic=t", { "last-event-id": old });
    await s.until((e) => e.some((x) => x.event === "message"));
    assert.equal(s.events[0].event, "reset");
    assert.equal(JSON.parse(s.events[0].data).reason, "epoch");
    assert.deepEqual(s.messages().map((m) => m.json.payload), [{ n: 2 }]);
    await s.close();
  } finally {
    await b.close();
  }
});

Deno.test("the SQLite store keeps history and positions across a restart", async () => {
  const dir = await tempDir();
  const store = `sqlite:${dir.path}/relay.db`;
  try {
    const a = await startRelay({ store });
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++) ids.push(String((await publish(a.url, "t", { i })).body.id));
    await a.close();
    const b = await startRelay({ store });
    try {
      const r = await publish(b.url, "t", { i: 4 });
      assert.equal(r.body.seq, 4, "sequence continues");
      const s = await openSse(b.url, "topic=t", { "last-event-id": ids[1] });
      await s.until((e) => e.filter((x) => x.event === "message").length === 2);
      assert.ok(!s.events.some((e) => e.event === "reset"));
      assert.deepEqual(seqs(s), [3, 4]);
      await s.close();
      const all = await openSse(b.url, "topic=t");
      await all.until((e) => e.filter((x) => x.event === "message").length === 4);
      await all.close();
    } finally {
      await b.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("SQLite retention truncates by count and the reset survives a restart", async () => {
  const dir = await tempDir();
  const store = `sqlite:${dir.path}/relay.db`;
  try {
    const a = await startRelay({ store, retention_events: 3 });
    const ids: string[] = [];
    for (let i = 1; i <= 6; i++) ids.push(String((await publish(a.url, "t", { i })).body.id));
    await a.close();
    const b = await startRelay({ store, retention_events: 3 });
    try {
      const topics = await (await fetch(`${b.url}/topics`)).json();
      assert.equal(topics.topics[0].count, 3);
      assert.equal(topics.topics[0].oldest_id, ids[3]);
      const s = await openSse(b.url, "topic=t", { "last-event-id": ids[0] });
      await s.until((e) => e.filter((x) => x.event === "message").length === 3);
      assert.equal(s.events[0].event, "reset");
      assert.deepEqual(seqs(s), [4, 5, 6]);
      await s.close();
    } finally {
      await b.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("wildcards and several topic parameters select the right topics", async () => {
  const relay = await startRelay();
  try {
    const s = await openSse(relay.url, "topic=sensor.*&topic=status.watchdog");
    for (const t of ["sensor.cpu", "sensorx", "sensor.disk.io", "status.watchdog", "status.x"]) {
      await publish(relay.url, t, { t });
    }
    await publish(relay.url, "sensor.end", {});
    await s.until((e) => e.some((x) => x.data.includes('"sensor.end"')));
    assert.deepEqual(
      s.messages().map((m) => m.json.topic),
      ["sensor.cpu", "sensor.disk.io", "status.watchdog", "sensor.end"],
    );
    await s.close();
    const all = await openSse(relay.url, "topic=*");
    await all.until((e) => e.filter((x) => x.event === "message").length === 6);
    await all.close();
  } finally {
    await relay.close();
  }
});

Deno.test("GET /topics lists retained counts and last positions", async () => {
  const relay = await startRelay({ retention_events: 2 });
  try {
    for (let i = 0; i < 3; i++) await publish(relay.url, "b", { i });
    const last = await publish(relay.url, "a", {});
    const body = await (await fetch(`${relay.url}/topics`)).json();
    assert.deepEqual(body.topics.map((t: { topic: string }) => t.topic), ["a", "b"]);
    assert.equal(body.topics[0].count, 1);
    assert.equal(body.topics[0].last_id, last.body.id);
    assert.equal(body.topics[1].count, 2);
    assert.equal(body.topics[1].last_seq, 3);
  } finally {
    await relay.close();
  }
});

Deno.test("the stream starts with a retry hint and sends heartbeat comments", async () => {
  const relay = await startRelay({ heartbeat: 100, retry: 1234 });
  const ac = new AbortController();
  try {
    const res = await fetch(`${relay.url}/subscribe?topic=t`, { signal: ac.signal });
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes(": heartbeat")) text += (await reader.read()).value ?? "";
    assert.ok(text.startsWith("retry: 1234\n\n"));
    ac.abort();
    await reader.cancel().catch(() => {});
  } finally {
    await relay.close();
  }
});

Deno.test("age retention evicts old events, and frees a topic left with none", async () => {
  const relay = await startRelay({ retention_age: 200, expire_interval: 100 });
  try {
    await publish(relay.url, "t", { old: true });
    await waitFor(
      async () => {
        const topics = (await (await fetch(`${relay.url}/topics`)).json()).topics;
        return topics.length === 0;
      },
      15_000,
      "the old event to expire",
    );
  } finally {
    await relay.close();
  }
});
