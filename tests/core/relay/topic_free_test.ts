/**
 * Topics freed once every event of theirs aged out: their creator's share of
 * `max_topics_per_principal` and `max_topics` are reusable, a resume from before a freed topic's
 * last event is still told history was lost, a topic created again starts truncated, and a
 * `sqlite:` store keeps all of it (and its sequence) across a restart. On the stores themselves,
 * with the clock given, and on a real relay (one isolate and `--workers 2`).
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import type { Service } from "../../../core/http/mod.ts";
import { MemoryStore } from "../../../core/relay/mod.ts";
import { openSqliteStore } from "../../../core/relay/on_demand.ts";
import { type RelayStore, type Retention, TopicLimitError } from "../../../core/relay/store.ts";
import { TopicFilter } from "../../../core/topic/mod.ts";
import { tempDir, waitFor } from "../../helpers.ts";
import { openSse, publish, startRelay } from "./relay_helpers.ts";

const RETENTION: Retention = {
  maxEventsPerTopic: 10,
  maxAgeMs: 1_000,
  maxTopics: 4,
  maxTopicsPerPrincipal: 2,
};

function refusedFor(setting: string) {
  return (err: unknown) => err instanceof TopicLimitError && err.setting === setting;
}

const names = (s: RelayStore) => s.topics().map((t) => t.topic).sort();
const only = (t: string) => new TopicFilter([t]);

/** Both bounds reached, then freed by age (sequences 1..8). */
function freeByAge(s: RelayStore): void {
  s.append("a.0", "e1", "{}", 0, "a");
  s.append("a.0", "e2", "{}", 0, "a");
  s.append("a.1", "e3", "{}", 0, "a");
  const over = (topic: string, by: string, now: number, setting: string) =>
    assert.throws(() => s.append(topic, "x", "{}", now, by), refusedFor(setting), topic);
  over("a.2", "a", 0, "max_topics_per_principal");
  s.append("b.0", "e4", "{}", 500, "b");
  s.append("c.0", "e5", "{}", 500, "c");
  over("d.0", "d", 500, "max_topics");

  // a.0 and a.1 aged out: freed, a's share is free again; b.0 and c.0 not yet.
  assert.equal(s.expire(1_200), 3);
  assert.deepEqual(names(s), ["b.0", "c.0"]);
  s.append("a.2", "e6", "{}", 1_200, "a");
  s.append("a.3", "e7", "{}", 1_200, "a");
  over("d.0", "d", 1_200, "max_topics");
  s.expire(1_600); // b.0 and c.0 freed: max_topics has room again, a's share has not
  assert.deepEqual(names(s), ["a.2", "a.3"]);
  over("a.4", "a", 1_600, "max_topics_per_principal");
  s.append("c.1", "e8", "{}", 1_600, "c");

  // A resume from before a.0's last event (2) lost events; from it, none.
  assert.equal(s.truncatedAfter(only("a.0"), 1), true);
  assert.equal(s.truncatedAfter(new TopicFilter(["a.*"]), 1), true);
  assert.equal(s.truncatedAfter(only("a.0"), 2), false);
  assert.equal(s.truncatedAfter(only("b.0"), 3), true);
  assert.equal(s.truncatedAfter(only("z"), 1), false, "a topic never freed");
  assert.equal(s.truncation(only("a.1")).get("a.1"), 3);
  assert.equal(s.lastSeq, 8);
}

Deno.test("a memory store frees a topic whose events aged out: its creator's share and max_topics are reusable", () => {
  const s = new MemoryStore(RETENTION);
  try {
    freeByAge(s);
    s.expire(3_000);
    assert.deepEqual(names(s), []);
    // Created again: truncated through its old events.
    assert.equal(s.append("a.2", "e9", "{}", 3_000, "b").seq, 9);
    assert.equal(s.topics()[0].truncatedThrough, 6);
    assert.equal(s.truncatedAfter(only("a.2"), 5), true);
  } finally {
    s.close();
  }
});

Deno.test("a sqlite store frees a topic whose events aged out, and keeps what it freed and its sequence across a restart", async () => {
  const dir = await tempDir();
  const file = `${dir.path}/relay.db`;
  try {
    let s = await openSqliteStore(file, RETENTION);
    try {
      freeByAge(s);
    } finally {
      s.close();
    }
    s = await openSqliteStore(file, RETENTION);
    try {
      assert.deepEqual(names(s), ["a.2", "a.3", "c.1"]);
      assert.throws(
        () => s.append("a.4", "x", "{}", 1_600, "a"),
        refusedFor("max_topics_per_principal"),
        "a's two topics counted after the restart",
      );
      assert.equal(s.append("b.1", "e9", "{}", 1_600, "b").seq, 9);
      assert.throws(() => s.append("d.0", "x", "{}", 1_600, "d"), refusedFor("max_topics"));
      assert.equal(s.truncatedAfter(only("a.0"), 1), true, "freed topics kept");
      assert.equal(s.truncatedAfter(only("a.0"), 2), false);
      // Every topic freed, the newest event (9) with them.
      s.expire(10_000);
      assert.deepEqual(names(s), []);
    } finally {
      s.close();
    }
    s = await openSqliteStore(file, RETENTION);
    try {
      assert.equal(s.lastSeq, 9, "the sequence goes on after the freed topics' events");
      assert.equal(s.append("a.3", "e10", "{}", 10_000, "a").seq, 10);
      assert.equal(s.topics()[0].truncatedThrough, 7, "a.3 comes back truncated");
      s.append("a.5", "e11", "{}", 10_000, "a");
      assert.throws(
        () => s.append("a.6", "x", "{}", 10_000, "a"),
        refusedFor("max_topics_per_principal"),
      );
      // Four freed topics remembered (max_topics), one of them created again; resumes from
      // before the others are reset.
      assert.deepEqual(s.freed().topics.map((t) => t.topic).sort(), ["a.2", "b.1", "c.1"]);
      assert.equal(s.truncatedAfter(only("a.0"), 1), true);
      assert.equal(s.truncatedAfter(only("never"), 1), true);
    } finally {
      s.close();
    }
    const db = new DatabaseSync(file);
    const rows = db.prepare("SELECT topic FROM freed_topics ORDER BY topic").all();
    db.close();
    assert.deepEqual(rows.map((r) => r.topic), ["a.2", "b.1", "c.1"]);
  } finally {
    await dir.remove();
  }
});

Deno.test("a sqlite database whose topics lost every event under an older relay frees them when it opens", async () => {
  const dir = await tempDir();
  const file = `${dir.path}/relay.db`;
  try {
    let s = await openSqliteStore(file, RETENTION);
    s.append("a.0", "e1", "{}", 0, "a");
    s.append("a.1", "e2", "{}", 0, "a");
    s.close();
    // What an older relay left after age retention: the topic rows, no events.
    const db = new DatabaseSync(file);
    db.exec("DELETE FROM events");
    db.close();
    s = await openSqliteStore(file, RETENTION);
    try {
      assert.deepEqual(names(s), []);
      s.append("a.2", "e3", "{}", 0, "a");
      s.append("a.3", "e4", "{}", 0, "a");
      assert.equal(s.lastSeq, 4);
      assert.equal(s.truncatedAfter(only("a.1"), 1), true);
    } finally {
      s.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("freed topics past max_topics are forgotten: a resume from before any of them is reset whatever its topics", () => {
  const s = new MemoryStore({ ...RETENTION, maxTopics: 2, maxTopicsPerPrincipal: 2 });
  try {
    s.append("t.1", "e1", "{}", 0); // seq 1
    s.append("t.2", "e2", "{}", 0); // seq 2
    s.expire(5_000);
    s.append("t.3", "e3", "{}", 5_000); // seq 3
    s.expire(10_000); // t.1 forgotten to keep two freed topics: t.2, t.3
    assert.deepEqual(s.freed().topics.map((t) => t.topic), ["t.2", "t.3"]);
    assert.equal(s.freed().forgottenThrough, 1);
    assert.equal(s.truncatedAfter(only("other"), 0), true);
    assert.equal(s.truncatedAfter(only("other"), 1), false);
    assert.equal(s.truncatedAfter(only("t.3"), 2), true);
  } finally {
    s.close();
  }
});

const SENSOR_A = "sensor-a-token-0001";
const TOKENS = { [SENSOR_A]: ["publish:sensor.*", "subscribe:*"] };
const AUTH = { authorization: `Bearer ${SENSOR_A}` };
const ID_A = `token:${createHash("sha256").update(SENSOR_A).digest("hex").slice(0, 8)}`;

for (
  const [store, workers] of [["memory", 1], ["sqlite", 1], ["sqlite", 2]] as const
) {
  Deno.test(`a ${store} relay on ${workers} isolate(s): a publisher whose topics aged out creates new ones; a subscriber to them goes on`, async () => {
    const dir = await tempDir();
    let relay: Service | undefined;
    try {
      relay = await startRelay({
        store: store === "memory" ? "memory" : `sqlite:${dir.path}/relay.db`,
        workers,
        compat: "iatp",
        tokens: TOKENS,
        max_topics_per_principal: 1,
        retention_age: 300,
        expire_interval: 100,
      });
      const url = relay.url;
      const sub = await openSse(url, "topic=sensor.*", AUTH);
      const first = await publish(url, "sensor.a0", { n: 1 }, AUTH);
      const last = await publish(url, "sensor.a0", { n: 2 }, AUTH);
      assert.equal(last.status, 201);
      // Refused (nothing stored) until sensor.a0 is freed: by worker 0, whichever isolate asks.
      const accepted = (topic: string, n: number) => async () =>
        (await publish(url, topic, { n }, AUTH)).status === 201;
      await waitFor(accepted("sensor.a1", 3), 15_000, "sensor.a1 accepted");
      await waitFor(accepted("sensor.a0", 4), 15_000, "sensor.a0 accepted again");
      // A resume on the topic from the last event it had before it was freed is no reset; from
      // before it, it is.
      const at = (r: typeof first) => ({ ...AUTH, "Last-Event-ID": String(r.body.id) });
      const fromLast = await openSse(url, "topic=sensor.a0", at(last));
      const fromFirst = await openSse(url, "topic=sensor.a0", at(first));
      for (const r of [sub, fromLast, fromFirst]) {
        await r.until((e) => e.some((x) => x.event === "message" && x.data.includes('"n":4')));
        await r.close();
      }
      // The subscription open all along got every event.
      assert.deepEqual(
        sub.messages().map((m) => [m.json.topic, m.json.publisher, m.json.payload]),
        [
          ["sensor.a0", ID_A, { n: 1 }],
          ["sensor.a0", ID_A, { n: 2 }],
          ["sensor.a1", ID_A, { n: 3 }],
          ["sensor.a0", ID_A, { n: 4 }],
        ],
      );
      assert.deepEqual(fromLast.events.map((e) => e.event), ["message"]);
      assert.deepEqual(fromFirst.events.map((e) => e.event), ["reset", "message"]);
      assert.equal(JSON.parse(fromFirst.events[0].data).reason, "truncated");
    } finally {
      await relay?.close();
      await dir.remove();
    }
  });
}

Deno.test("a relay on 2 isolates started on a sqlite store with freed topics: a resume from before them is reset on every isolate", async () => {
  const dir = await tempDir();
  const file = `${dir.path}/relay.db`;
  let relay: Service | undefined;
  try {
    const s = await openSqliteStore(file, RETENTION);
    s.append("gone", "e1", "{}", 0);
    s.append("gone", "e2", "{}", 0);
    s.expire(10_000);
    const epoch = s.epoch;
    s.close();
    relay = await startRelay({ store: `sqlite:${file}`, compat: "iatp", workers: 2 });
    const url = relay.url;
    for (let i = 0; i < 8; i++) {
      const r = await openSse(url, "topic=gone&topic=next", { "Last-Event-ID": `${epoch}-1` });
      assert.equal((await publish(url, "next", { i })).status, 201);
      await r.until((e) => e.some((x) => x.event === "message"));
      await r.close();
      assert.equal(r.events[0].event, "reset", JSON.stringify(r.events));
      assert.equal(JSON.parse(r.events[0].data).reason, "truncated");
    }
  } finally {
    await relay?.close();
    await dir.remove();
  }
});
