/**
 * The relay names who published each event: `publisher` beside the payload in the SSE data, set
 * from the authenticated caller (never from the body), absent for anonymous publishes to an open
 * relay, and kept through replay from the memory and SQLite stores (including a database written
 * before the column existed).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { RelayClient, type RelayEvent } from "../../../core/relay/client/mod.ts";
import { tempDir, waitFor } from "../../helpers.ts";
import { openSse, publish, startRelay } from "./relay_helpers.ts";

const TOKEN = "publisher-token-1";
const TOKENS = { [TOKEN]: ["publish:*", "subscribe:*"] };
const AUTH = { authorization: `Bearer ${TOKEN}` };
/** The principal id the relay gives a static token. */
const TOKEN_ID = `token:${createHash("sha256").update(TOKEN).digest("hex").slice(0, 8)}`;

Deno.test("an authenticated publish carries publisher; a forged one in the payload stays there", async () => {
  const relay = await startRelay({ tokens: TOKENS });
  try {
    const r = await publish(relay.url, "orders", { publisher: "forged", n: 1 }, AUTH);
    assert.equal(r.status, 200);
    const s = await openSse(relay.url, "topic=orders", AUTH);
    await s.until((e) => e.some((x) => x.event === "message"), 15_000, "replayed event");
    const [m] = s.messages();
    assert.equal(m.json.publisher, TOKEN_ID);
    assert.deepEqual(m.json.payload, { publisher: "forged", n: 1 });
    assert.deepEqual(Object.keys(m.json), [
      "id",
      "event_id",
      "seq",
      "ts",
      "ts_iso",
      "topic",
      "publisher",
      "payload",
    ]);
    // Live delivery carries it too, not only replay.
    await publish(relay.url, "orders", { n: 2 }, AUTH);
    await s.until((e) => e.filter((x) => x.event === "message").length === 2, 15_000, "live");
    assert.equal(s.messages()[1].json.publisher, TOKEN_ID);
    await s.close();
  } finally {
    await relay.close();
  }
});

Deno.test("an anonymous publish to an open relay has no publisher, whatever the body says", async () => {
  const relay = await startRelay();
  const client = new RelayClient({ url: relay.url });
  const got: RelayEvent[] = [];
  const sub = client.subscribe(["orders"], (e) => {
    got.push(e);
  }, { since: "0" });
  try {
    const res = await fetch(`${relay.url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "orders", publisher: "forged", payload: { n: 1 } }),
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    await waitFor(() => got.length === 1, 15_000, "event");
    assert.equal(got[0].publisher, undefined);
    assert.equal("publisher" in got[0], false);
  } finally {
    sub.close();
    await client.close();
    await relay.close();
  }
});

Deno.test("publisher survives replay from the memory store to a client", async () => {
  const relay = await startRelay({ tokens: TOKENS });
  const client = new RelayClient({ url: relay.url, token: TOKEN });
  try {
    await client.publishNow("a.b", { i: 1 });
    await client.publishNow("a.b", { i: 2 });
    const got: RelayEvent[] = [];
    const sub = client.subscribe(["a.*"], (e) => {
      got.push(e);
    }, { since: "0" });
    await waitFor(() => got.length === 2, 15_000, "replay");
    sub.close();
    assert.deepEqual(got.map((e) => e.publisher), [TOKEN_ID, TOKEN_ID]);
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("publisher survives a SQLite relay restart and the replay after it", async () => {
  const dir = await tempDir();
  const store = `sqlite:${dir.path}/relay.db`;
  try {
    const a = await startRelay({ store, tokens: TOKENS });
    assert.equal((await publish(a.url, "t", { i: 1 }, AUTH)).status, 200);
    await a.close();
    const b = await startRelay({ store, tokens: TOKENS });
    try {
      const s = await openSse(b.url, "topic=t", AUTH);
      await s.until((e) => e.some((x) => x.event === "message"), 15_000, "replay");
      assert.equal(s.messages()[0].json.publisher, TOKEN_ID);
      await s.close();
    } finally {
      await b.close();
    }
    const db = new DatabaseSync(`${dir.path}/relay.db`);
    try {
      const rows = db.prepare("SELECT publisher FROM events").all();
      assert.deepEqual(rows.map((r) => r.publisher), [TOKEN_ID]);
    } finally {
      db.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("a database from before the publisher column is migrated and keeps its history", async () => {
  const dir = await tempDir();
  const path = `${dir.path}/old.db`;
  try {
    // The schema and rows exactly as the previous relay wrote them.
    const old = new DatabaseSync(path);
    old.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, ts_ms INTEGER NOT NULL, data TEXT NOT NULL);
      CREATE INDEX events_by_topic ON events (topic, seq);
      CREATE TABLE topics (
        topic TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, truncated_through INTEGER NOT NULL);
      INSERT INTO meta VALUES ('epoch', 'oldepoch');
      INSERT INTO events VALUES (1, 't', ${Date.now()},
        '{"event_id":"e1","seq":1,"ts":"2024-01-01T00:00:00.000Z","topic":"t","payload":{"i":1}}');
      INSERT INTO topics VALUES ('t', 1, 0);
    `);
    old.close();
    const relay = await startRelay({ store: `sqlite:${path}`, tokens: TOKENS });
    try {
      const r = await publish(relay.url, "t", { i: 2 }, AUTH);
      assert.equal(r.body.seq, 2, "the sequence continues after migration");
      const s = await openSse(relay.url, "topic=t", AUTH);
      await s.until((e) => e.filter((x) => x.event === "message").length === 2, 15_000, "both");
      const [first, second] = s.messages();
      assert.equal(first.id, "oldepoch-1");
      assert.equal("publisher" in first.json, false);
      assert.equal(second.json.publisher, TOKEN_ID);
      await s.close();
    } finally {
      await relay.close();
    }
    // Opening it again does not migrate twice.
    const again = await startRelay({ store: `sqlite:${path}` });
    await again.close();
  } finally {
    await dir.remove();
  }
});
