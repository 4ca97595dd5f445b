/**
 * Upgrades and rollbacks of the SQLite store files: a file the previous release wrote (its
 * tables built here by hand, with no schema stamp) opens with this release, keeps what it held
 * and is stamped with its store's schema version; a file a newer release stamped is refused
 * before anything is written to it (its bytes unchanged), and a service started on one stops
 * with exit 2 naming the setting and the file. (An agent's state file: tests/core/agents.) A relay
 * store file that cannot be opened names where `store` was set (config file line, env).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openReplayStore } from "../../core/auth/mod.ts";
import { lockWriter } from "../../core/config/mod.ts";
import { generateKeyPair } from "../../core/crypto/mod.ts";
import { Ledger, LedgerStore } from "../../core/ledger/mod.ts";
import { openDecisionState } from "../../core/policy/mod.ts";
import { openRecordStore } from "../../core/recorder/mod.ts";
import { openSqliteStore } from "../../core/relay/mod.ts";
import { TopicFilter } from "../../core/topic/mod.ts";
import { runIatp, tempDir } from "../helpers.ts";

const RETENTION = { maxEventsPerTopic: 10, maxAgeMs: 0, maxTopics: 10 };

/** SQLite's user_version of `path`. */
function userVersion(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return Number(
      (db.prepare("PRAGMA user_version").get() as { user_version: number })
        .user_version,
    );
  } finally {
    db.close();
  }
}

/** Runs `sql` on a new database at `path` and closes it (a file as a release wrote it). */
function handMade(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  db.exec(sql);
  db.close();
}

/** The tables of release e49b71d's stores, as that release created them. */
const PREVIOUS = {
  relay: `
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
      seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, ts_ms INTEGER NOT NULL, data TEXT NOT NULL,
      publisher TEXT);
    CREATE INDEX events_by_topic ON events (topic, seq);
    CREATE TABLE topics (
      topic TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, truncated_through INTEGER NOT NULL,
      creator TEXT);
    CREATE TABLE freed_topics (topic TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
    INSERT INTO meta VALUES ('epoch', 'prevepoch000');
    INSERT INTO events VALUES (1, 't.a', 1, '{"n":1}', NULL), (2, 't.a', 2, '{"n":2}', NULL);
    INSERT INTO topics VALUES ('t.a', 2, 0, NULL);`,
  policy: `
    CREATE TABLE position (id INTEGER PRIMARY KEY CHECK (id = 1), last TEXT);
    CREATE TABLE decided (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, tx_id TEXT NOT NULL UNIQUE, decision TEXT NOT NULL,
      delivered INTEGER NOT NULL DEFAULT 0, published INTEGER NOT NULL DEFAULT 0);
    INSERT INTO position VALUES (1, 'prevepoch000-86');
    INSERT INTO decided (tx_id, decision, delivered, published) VALUES ('tx-1', '{}', 1, 1);`,
  recorder: `
    CREATE TABLE trace_records (
      id INTEGER PRIMARY KEY AUTOINCREMENT, trace_id TEXT NOT NULL, type TEXT NOT NULL,
      timestamp TEXT NOT NULL, details TEXT NOT NULL);
    CREATE INDEX trace_records_trace ON trace_records (trace_id, id);
    INSERT INTO trace_records (trace_id, type, timestamp, details)
      VALUES ('trace-1', 'request', '2026-01-01T00:00:00Z', '{}');`,
  replay: `CREATE TABLE seen (key TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL);
    CREATE INDEX seen_expiry ON seen (expires_ms);`,
};

Deno.test("files of the previous release open with this one, keep their data and are stamped", async () => {
  const dir = await tempDir("iatp upgrade é ");
  try {
    const relayDb = `${dir.path}/relay.db`;
    handMade(relayDb, PREVIOUS.relay);
    const relay = await openSqliteStore(relayDb, RETENTION);
    assert.equal(relay.epoch, "prevepoch000");
    assert.equal(relay.lastSeq, 2);
    const events = await relay.read(new TopicFilter(["t.a"]), 0, 2, 10);
    assert.deepEqual(events.map((e) => e.seq), [1, 2]);
    relay.close();
    assert.equal(userVersion(relayDb), 1);

    const policyDb = `${dir.path}/policy-state.db`;
    handMade(policyDb, PREVIOUS.policy);
    const policy = await openDecisionState(policyDb);
    assert.equal(policy.position(), "prevepoch000-86");
    assert.equal(policy.decided("tx-1"), true);
    policy.close();
    assert.equal(userVersion(policyDb), 1);

    const recorderDb = `${dir.path}/flight.db`;
    handMade(recorderDb, PREVIOUS.recorder);
    const recorder = await openRecordStore(recorderDb);
    await recorder.close();
    assert.equal(userVersion(recorderDb), 1);

    const replayDb = `${dir.path}/replay.db`;
    handMade(replayDb, PREVIOUS.replay);
    const replay = await openReplayStore({ path: replayDb });
    assert.equal(replay.remember("agent", "req-1"), "fresh");
    replay.close();
    assert.equal(userVersion(replayDb), 1);

    // A ledger's tables are the same in both releases: one written and unstamped again, as the
    // previous release left it, verifies and grows.
    const ledgerDb = `${dir.path}/audit.db`;
    const key = await generateKeyPair();
    const first = await Ledger.open({ store: new LedgerStore(ledgerDb), key });
    await first.append({ tx_id: "tx-1", event: "e", actor: "a", payload: {} });
    await first.close();
    const raw = new DatabaseSync(ledgerDb);
    raw.exec("PRAGMA user_version = 0");
    raw.close();
    const again = await Ledger.open({ store: new LedgerStore(ledgerDb), key });
    assert.equal(again.size, 1);
    await again.append({ tx_id: "tx-2", event: "e", actor: "a", payload: {} });
    await again.close();
    assert.equal(userVersion(ledgerDb), 1);
  } finally {
    await dir.remove();
  }
});

Deno.test("a file a newer release stamped is refused naming it, and nothing is written to it", async () => {
  const dir = await tempDir("iatp rollback é ");
  try {
    const newer = async (name: string, sql: string, open: (path: string) => unknown) => {
      const path = `${dir.path}/${name}`;
      handMade(path, `${sql}; PRAGMA user_version = 2;`);
      const before = await Deno.readFile(path);
      await assert.rejects(async () => await open(path), (err: Error) => {
        assert.equal(err.name, "NewerSchemaError");
        assert.equal(
          err.message,
          `${path} has schema version 2, written by a newer iatp release (this one reads up to 1)`,
        );
        return true;
      });
      assert.deepEqual(await Deno.readFile(path), before, name);
      await assert.rejects(Deno.stat(`${path}-wal`), Deno.errors.NotFound);
      return path;
    };
    await newer("relay.db", PREVIOUS.relay, (p) => openSqliteStore(p, RETENTION));
    await newer("policy.db", PREVIOUS.policy, (p) => openDecisionState(p));
    await newer("flight.db", PREVIOUS.recorder, (p) => openRecordStore(p));
    await newer("replay.db", PREVIOUS.replay, (p) => openReplayStore({ path: p }));
    const ledger = await newer(
      "audit.db",
      "CREATE TABLE meta (key TEXT PRIMARY KEY)",
      (p) => new LedgerStore(p),
    );
    // Offline verification refuses it too, rather than reading tables it may not know.
    assert.throws(() => new LedgerStore(ledger, { readOnly: true }), { name: "NewerSchemaError" });
    // The writer's lock is let go: the newer release can open it again.
    lockWriter(ledger)?.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("a service started on a file a newer release wrote stops with exit 2 naming the setting", async () => {
  const dir = await tempDir("iatp rollback é ");
  try {
    const ledger = `${dir.path}/audit.db`;
    handMade(ledger, "CREATE TABLE meta (key TEXT PRIMARY KEY); PRAGMA user_version = 7;");
    const audit = await runIatp(["audit", "--port", "0", "--db", ledger], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(audit.code, 2, audit.stderr);
    assert.match(
      audit.stderr,
      /^iatp audit: config error: db \(flag --db\): expected a store file of schema version 1 or older/,
    );
    assert.ok(
      audit.stderr.includes(`${ledger} of schema version 7, written by a newer iatp release`),
      audit.stderr,
    );
    const verify = await runIatp(["audit", "verify", "--db", ledger], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(verify.code, 2, verify.stderr);
    assert.ok(verify.stderr.includes(`${ledger} has schema version 7`), verify.stderr);

    const relayDb = `${dir.path}/relay.db`;
    handMade(relayDb, `${PREVIOUS.relay}; PRAGMA user_version = 7;`);
    const relay = await runIatp(["relay", "--port", "0", "--workers", "1"], {
      env: { IATP_DATA_DIR: dir.path, IATP_RELAY_STORE: `sqlite:${relayDb}` },
    });
    assert.equal(relay.code, 2, relay.stderr);
    assert.match(relay.stderr, /^iatp relay: config error: store \(env IATP_RELAY_STORE\): /);
    assert.ok(relay.stderr.includes(`${relayDb} of schema version 7`), relay.stderr);
    assert.equal(userVersion(relayDb), 7);
  } finally {
    await dir.remove();
  }
});

Deno.test("a relay sqlite: store that cannot be opened names where store was set", async () => {
  const dir = await tempDir("iatp relay store é ");
  try {
    const file = `${dir.path}/no folder/relay.db`;
    const config = `${dir.path}/relay.yaml`;
    await Deno.writeTextFile(config, `store: ${JSON.stringify(`sqlite:${file}`)}\n`);
    const fromFile = await runIatp(["relay", "--port", "0", "--workers", "1", "--config", config], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(fromFile.code, 2, fromFile.stderr);
    assert.ok(
      fromFile.stderr.startsWith(
        `iatp relay: config error: store (${config}:1): expected a writable SQLite file path, found ${file} (`,
      ),
      fromFile.stderr,
    );
    const fromEnv = await runIatp(["relay", "--port", "0", "--workers", "1"], {
      env: { IATP_DATA_DIR: dir.path, IATP_RELAY_STORE: `sqlite:${file}` },
    });
    assert.equal(fromEnv.code, 2, fromEnv.stderr);
    assert.match(fromEnv.stderr, /^iatp relay: config error: store \(env IATP_RELAY_STORE\): /);
  } finally {
    await dir.remove();
  }
});
