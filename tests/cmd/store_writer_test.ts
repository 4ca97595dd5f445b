/**
 * One writer per store file: a second audit, relay or policy process started on the ledger,
 * topic log or decision state another process writes stops with exit 2 naming the setting and
 * where its value came from, instead of starting and then failing (or making the first fail) at
 * every write; a read-only `audit verify` of a ledger in use still runs.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../core/crypto/mod.ts";
import { Ledger, LedgerStore } from "../../core/ledger/mod.ts";
import { DecisionState } from "../../core/policy/mod.ts";
import { openSqliteStore } from "../../core/relay/mod.ts";
import { runIatp, tempDir } from "../helpers.ts";

const IN_USE = "expected a store file no other running process writes";

Deno.test("a second audit on a ledger another process writes stops, naming db; verify reads it", async () => {
  const dir = await tempDir("iatp test 'lock' é ");
  const db = `${dir.path}/audit.db`;
  const held = await Ledger.open({ store: new LedgerStore(db), key: await generateKeyPair() });
  await held.append({ tx_id: "tx-1", event: "e", actor: "a", payload: {} });
  try {
    const r = await runIatp(["audit", "--port", "0", "--db", db], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^iatp audit: config error: db \\(flag --db\\): ${IN_USE}`));
    assert.ok(r.stderr.includes(`${db} open for writing by another process`), r.stderr);
    const fromEnv = await runIatp(["audit", "--port", "0"], {
      env: { IATP_DATA_DIR: dir.path, IATP_AUDIT_DB: db },
    });
    assert.equal(fromEnv.code, 2, fromEnv.stderr);
    assert.match(fromEnv.stderr, /config error: db \(env IATP_AUDIT_DB\): /);
    const verify = await runIatp(["audit", "verify", "--db", db], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /^ok: 1 entries/);
    assert.equal(held.size, 1);
  } finally {
    await held.close();
    await dir.remove();
  }
});

Deno.test("a second relay on a sqlite: store another process writes stops, naming store", async () => {
  const dir = await tempDir();
  const file = `${dir.path}/relay.db`;
  const held = await openSqliteStore(file, { maxEventsPerTopic: 10, maxAgeMs: 0, maxTopics: 10 });
  try {
    const r = await runIatp(["relay", "--port", "0", "--workers", "1"], {
      env: { IATP_DATA_DIR: dir.path, IATP_RELAY_STORE: `sqlite:${file}` },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^iatp relay: config error: store \\(env IATP_RELAY_STORE\\): ${IN_USE}`),
    );
  } finally {
    held.close();
    await dir.remove();
  }
});

Deno.test("a second policy on a state file another process writes stops, naming state_db", async () => {
  const dir = await tempDir();
  const file = `${dir.path}/policy-state.db`;
  const held = new DecisionState(file);
  try {
    const r = await runIatp([
      "policy",
      "--port",
      "0",
      "--relay-url",
      "http://127.0.0.1:9",
      "--state-db",
      file,
    ], { env: { IATP_DATA_DIR: dir.path } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^iatp policy: config error: state_db \\(flag --state-db\\): ${IN_USE}`),
    );
  } finally {
    held.close();
    await dir.remove();
  }
});

Deno.test("a store's writer lock is released when it closes, and is not taken read-only", async () => {
  const dir = await tempDir();
  const db = `${dir.path}/audit.db`;
  try {
    const first = new LedgerStore(db);
    assert.throws(() => new LedgerStore(db), { name: "FileInUseError" });
    const reader = new LedgerStore(db, { readOnly: true });
    reader.close();
    first.close();
    new LedgerStore(db).close();
  } finally {
    await dir.remove();
  }
});

Deno.test("a second up on a data folder whose ledger another process writes stops, naming data_dir", async () => {
  const dir = await tempDir();
  const held = new LedgerStore(`${dir.path}/audit.db`);
  try {
    const r = await runIatp([
      "up",
      "--data-dir",
      dir.path,
      "--base-port",
      "0",
      "--no-demo",
      "--services",
      "relay,audit",
    ], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^iatp up: config error: data_dir \\(flag --data-dir\\): ${IN_USE}`),
    );
  } finally {
    held.close();
    await dir.remove();
  }
});
