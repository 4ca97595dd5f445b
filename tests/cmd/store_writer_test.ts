/**
 * One writer per store file: a second audit, relay or policy process started on the ledger,
 * topic log or decision state another process writes stops with exit 2 naming the setting and
 * where its value came from, instead of starting and then failing (or making the first fail) at
 * every write; a read-only `audit verify` of a ledger in use still runs. So does a second
 * sidecar on a recorder file, a second compose-agent on a replay store and a second sensor or
 * action agent on a state database.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../core/crypto/mod.ts";
import { Ledger, LedgerStore } from "../../core/ledger/mod.ts";
import { openDecisionState } from "../../core/policy/mod.ts";
import { openRecordStore } from "../../core/recorder/mod.ts";
import { openSqliteStore } from "../../core/relay/mod.ts";
import { lockWriter } from "../../core/config/mod.ts";
import { writeConfig } from "../core/agents/fixtures.ts";
import { runIatp, startIatpService, tempDir } from "../helpers.ts";

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
  const held = await openDecisionState(file);
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

Deno.test("a second sidecar on a recorder file (SQLite or JSONL) another process writes stops, naming recorder_file", async () => {
  const dir = await tempDir();
  try {
    for (const name of ["trace.db", "trace.jsonl"]) {
      const file = `${dir.path}/${name}`;
      const held = await openRecordStore(file);
      try {
        const r = await runIatp(["sidecar", "--port", "0"], {
          env: { IATP_DATA_DIR: dir.path, IATP_RECORDER_FILE: file },
        });
        assert.equal(r.code, 2, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(
            `^iatp sidecar: config error: recorder_file \\(env IATP_RECORDER_FILE\\): ${IN_USE}`,
          ),
        );
      } finally {
        await held.close();
      }
      // Closed, the file is free again.
      (await openRecordStore(file)).close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("a recorder store's writer lock follows a JSONL file's rotation", async () => {
  const dir = await tempDir();
  const file = `${dir.path}/trace.jsonl`;
  try {
    const store = await openRecordStore(file, { maxBytes: 10 });
    const record = (n: number) => ({
      type: "request" as const,
      trace_id: `t-${n}`,
      timestamp: new Date(0).toISOString(),
      details: {},
    });
    store.append(record(1));
    store.flush();
    store.append(record(2));
    store.flush(); // over 10 bytes: the first line moved to trace.jsonl.1
    assert.equal(store.dropped, 0);
    assert.match(await Deno.readTextFile(`${file}.1`), /t-1/);
    await assert.rejects(() => openRecordStore(file), { name: "FileInUseError" });
    (await openRecordStore(`${file}.1`)).close(); // the rotated file is no longer held
    await store.close();
    (await openRecordStore(file)).close();
  } finally {
    await dir.remove();
  }
});

Deno.test("a second compose-agent on a replay store another one writes stops, naming replay_db", async () => {
  const dir = await tempDir();
  const env = {
    IATP_DATA_DIR: dir.path,
    IATP_COMPOSE_AGENT_AGENT_ID: "compose-1",
    IATP_COMPOSE_AGENT_AGENT_TOKEN: "store-writer-test-key-0123456789",
    IATP_COMPOSE_AGENT_DOCKER_SOCKET: `${dir.path}/none.sock`,
    IATP_COMPOSE_AGENT_REPLAY_DB: `${dir.path}/replay.sqlite`,
  };
  const first = await startIatpService(["compose-agent", "--port", "0"], { env });
  try {
    const r = await runIatp(["compose-agent", "--port", "0"], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^iatp compose-agent: config error: replay_db \\(env IATP_COMPOSE_AGENT_REPLAY_DB\\): ${IN_USE}`,
      ),
    );
    assert.ok(!r.stderr.includes("store-writer-test-key"), "the key is never printed");
  } finally {
    await first.stop();
  }
  try {
    // Stopped, the first one let its file go: a new agent starts on it.
    const again = await startIatpService(["compose-agent", "--port", "0"], { env });
    await again.stop();
  } finally {
    await dir.remove();
  }
});

Deno.test("an action agent on a base folder whose state another agent writes stops, naming agent.base_folder; a sensor on an action's too", async () => {
  const dir = await tempDir();
  const base = `${dir.path}/base`;
  const state = `${base}/data/state/agent.db`;
  await Deno.mkdir(`${base}/data/state`, { recursive: true });
  const cfg = await writeConfig(dir.path, "action.yaml", {
    agent: { id: "a1", base_folder: base },
    api: { base_url: "http://127.0.0.1:9" },
    security: { auth: { api_key: "k-123456" } },
    health: { port: 0 },
  });
  const sensorEnv = {
    IATP_DATA_DIR: dir.path,
    IATP_SENSOR_AGENT_ID: "s1",
    IATP_SENSOR_AGENT_BASE_FOLDER: base,
    IATP_SENSOR_RELAY_URL: "http://127.0.0.1:9",
    IATP_SENSOR_HEALTH_PORT: "0",
  };
  try {
    // Held shared, as running sensors hold it (they may share a state folder): no action agent.
    let held = lockWriter(state, false);
    try {
      const r = await runIatp(["action", "--config", cfg], { env: { IATP_DATA_DIR: dir.path } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^iatp action: config error: agent\\.base_folder \\(.*action\\.yaml:\\d+\\): ${IN_USE}`,
        ),
      );
      assert.ok(r.stderr.includes(`${state} open for writing by another process`), r.stderr);
    } finally {
      held?.close();
    }
    // Held alone, as a running action agent holds it: no sensor either.
    held = lockWriter(state);
    try {
      const sensor = await runIatp(["sensor"], { env: sensorEnv });
      assert.equal(sensor.code, 2, sensor.stderr);
      assert.match(
        sensor.stderr,
        new RegExp(
          `^iatp sensor: config error: agent\\.base_folder \\(env IATP_SENSOR_AGENT_BASE_FOLDER\\): ${IN_USE}`,
        ),
      );
    } finally {
      held?.close();
    }
  } finally {
    await dir.remove();
  }
});
