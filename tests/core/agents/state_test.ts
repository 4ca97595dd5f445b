import assert from "node:assert/strict";
import { ensureLayout, LAYOUT_DIRS } from "../../../core/agents/layout.ts";
import { DatabaseSync } from "node:sqlite";
import { AGENT_STATE_SCHEMA_VERSION, AgentState } from "../../../core/agents/state.ts";
import { tempDir } from "../../helpers.ts";

Deno.test("layout: every folder is created with mode 0700, idempotently", async () => {
  const dir = await tempDir();
  try {
    await Deno.mkdir(`${dir.path}/base/data`, { recursive: true, mode: 0o755 });
    await ensureLayout(`${dir.path}/base`);
    const layout = await ensureLayout(`${dir.path}/base`);
    for (const [key] of LAYOUT_DIRS) {
      const st = await Deno.stat(layout[key]);
      assert.ok(st.isDirectory, key);
      assert.equal(st.mode! & 0o777, 0o700, key);
    }
    assert.equal((await Deno.stat(`${dir.path}/base/data`)).mode! & 0o777, 0o700);
  } finally {
    await dir.remove();
  }
});

Deno.test("state: one action agent, or sensors together, hold the database file; the empty file the lock makes is no state", async () => {
  const dir = await tempDir();
  try {
    const first = new AgentState(dir.path, { history: 10 });
    first.lock();
    assert.equal((await Deno.stat(first.file)).mode! & 0o777, 0o600);
    assert.equal(first.exists(), false, "nothing to resume from an empty file");
    const second = new AgentState(dir.path, { history: 10 });
    assert.throws(() => second.lock(), { name: "FileInUseError" });
    assert.throws(() => second.lock(true), { name: "FileInUseError" }, "nor shared");
    await first.open();
    first.setValue("k", "v");
    assert.equal(first.exists(), true);
    first.close();
    second.lock(); // released by close
    await second.open();
    assert.equal(second.getValue("k"), "v");
    second.close();
    // Sensors share it (their writes are atomic statements); an action agent keeps out.
    const sensors = [1, 2].map(() => new AgentState(dir.path, { history: 10 }));
    for (const s of sensors) s.lock(true);
    assert.throws(() => new AgentState(dir.path, { history: 10 }).lock(), {
      name: "FileInUseError",
    });
    for (const s of sensors) s.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("state: claims are idempotent and survive reopening", async () => {
  const dir = await tempDir();
  try {
    let st = new AgentState(dir.path, { history: 100 });
    await st.open();
    assert.equal(st.claim("i1", "orchestrator", { id: "i1" }).kind, "new");
    assert.deepEqual(st.claim("i1", "orchestrator", { id: "i1" }), {
      kind: "active",
      state: "queued",
    });
    st.markRunning("i1");
    st.close();
    st = new AgentState(dir.path, { history: 100 });
    await st.open();
    assert.deepEqual(st.inState("running").map((r) => r.id), ["i1"]);
    st.finish("i1", "completed", { status: "completed", execution_log: [] });
    const again = st.claim("i1", "orchestrator", { id: "i1" });
    assert.equal(again.kind, "done");
    assert.equal(again.kind === "done" && again.row.result?.status, "completed");
    assert.deepEqual(st.unreported().map((r) => r.id), ["i1"]);
    st.markReported("i1");
    assert.deepEqual(st.unreported(), []);
    st.setValue("relay.last_id", "abc-7");
    st.close();
    st = new AgentState(dir.path, { history: 100 });
    await st.open();
    assert.equal(st.getValue("relay.last_id"), "abc-7");
    st.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("state: a finished instruction keeps what its report names, not its input or plugin configuration", async () => {
  const dir = await tempDir();
  const card = "4111 1111 1111 1111";
  try {
    let st = new AgentState(dir.path, { history: 100 });
    await st.open();
    const inst = {
      id: "i1",
      plugin_id: "p",
      instruction_type: "run",
      correlation_id: "c-1",
      input_data: { card, note: "x".repeat(300) },
      plugin_configuration: { api_key: "sk-live-0123456789abcdef" },
    };
    st.claim("i1", "orchestrator", inst);
    assert.deepEqual(st.inState("queued")[0].instruction, inst, "queued work keeps all of it");
    st.markRunning("i1");
    st.finish("i1", "failed", { status: "failed", error_message: "boom" });
    const row = st.get("i1")!;
    assert.deepEqual(row.instruction, {
      id: "i1",
      plugin_id: "p",
      instruction_type: "run",
      correlation_id: "c-1",
    });
    assert.equal(row.result?.error_message, "boom");
    st.close();
    // Nothing of it is left in the database's files (freed space is overwritten).
    for await (const e of Deno.readDir(dir.path)) {
      if (!e.isFile) continue;
      const text = new TextDecoder().decode(await Deno.readFile(`${dir.path}/${e.name}`));
      assert.ok(!text.includes(card), `${e.name} holds the card`);
      assert.ok(!text.includes("sk-live-0123456789abcdef"), `${e.name} holds the key`);
    }
    st = new AgentState(dir.path, { history: 100 });
    await st.open();
    assert.equal(st.get("i1")?.instruction.plugin_id, "p");
    st.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("state: finished history is bounded", async () => {
  const dir = await tempDir();
  try {
    const st = new AgentState(dir.path, { history: 10 });
    await st.open();
    for (let i = 0; i < 30; i++) {
      st.claim(`i${i}`, "relay", {});
      st.finish(`i${i}`, "completed", {});
      st.markReported(`i${i}`);
    }
    assert.equal(st.get("i0"), undefined);
    assert.ok(st.get("i29"));
    assert.equal(
      Array.from({ length: 30 }, (_, i) => st.get(`i${i}`)).filter(Boolean).length,
      10,
    );
    st.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("state: the dedup window is atomic across two connections and bounded", async () => {
  const dir = await tempDir();
  try {
    const a = new AgentState(dir.path, { history: 10, dedupMaxEntries: 5 });
    await a.open();
    const b = new AgentState(dir.path, { history: 10, dedupMaxEntries: 5 });
    await b.open();
    const t = 1_000_000;
    assert.equal(a.firstInWindow("cpu.high\0host1", 60_000, t), true);
    assert.equal(b.firstInWindow("cpu.high\0host1", 60_000, t + 10), false);
    assert.equal(b.firstInWindow("cpu.high\0host2", 60_000, t + 10), true);
    assert.equal(a.firstInWindow("cpu.high\0host1", 60_000, t + 60_001), true);
    for (let i = 0; i < 20; i++) a.firstInWindow(`k${i}`, 60_000, t + 70_000 + i);
    a.pruneDedup(60_000, t + 70_100);
    assert.equal(a.dedupSize(), 5);
    a.close();
    b.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("state: a forgotten dedup key is new again; one recorded since by another sensor is kept", async () => {
  const dir = await tempDir();
  try {
    const a = new AgentState(dir.path, { history: 10 });
    await a.open();
    const b = new AgentState(dir.path, { history: 10 });
    await b.open();
    const t = 1_000_000;
    assert.equal(a.firstInWindow("k", 60_000, t), true);
    a.forgetDedup("k", t);
    assert.equal(b.firstInWindow("k", 60_000, t + 10), true);
    a.forgetDedup("k", t); // a's record is gone; b's stays
    assert.equal(a.firstInWindow("k", 60_000, t + 20), false);
    a.close();
    b.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("state: nothing is created before open; reads answer empty, writes refuse", async () => {
  const dir = await tempDir();
  try {
    const st = new AgentState(dir.path, { history: 10 });
    assert.equal(st.exists(), false);
    assert.equal(st.isOpen, false);
    assert.deepEqual(st.inState("queued"), []);
    assert.deepEqual(st.unreported(), []);
    assert.equal(st.getValue("relay.last_id"), undefined);
    assert.equal(st.get("i1"), undefined);
    assert.equal(st.dedupSize(), 0);
    st.pruneDedup(60_000);
    assert.throws(() => st.claim("i1", "relay", {}), /not open/);
    assert.equal(st.exists(), false, "no database file before open");
    assert.equal(st.health().open, false);
    await st.open();
    assert.equal(st.exists(), true);
    assert.equal(st.health().open, true);
    assert.equal(st.claim("i1", "relay", {}).kind, "new");
    st.close();
    await assert.rejects(() => st.open(), /closed/);
  } finally {
    await dir.remove();
  }
});

Deno.test("state: a failed open is reported on health and tried again", async () => {
  const dir = await tempDir();
  try {
    const st = new AgentState(`${dir.path}/missing`, { history: 10 });
    await assert.rejects(() => st.open());
    assert.equal(st.health().ok, false);
    // The cause, never the path (SQLite's message names the file it could not open).
    assert.match(String(st.health().reason), /unable to open database file/);
    assert.ok(!String(st.health().reason).includes(dir.path), String(st.health().reason));
    await Deno.mkdir(`${dir.path}/missing`);
    await st.open();
    assert.equal(st.isOpen, true);
    st.close();
  } finally {
    await dir.remove();
  }
});

/** The tables of release e49b71d's agent state, as that release created them, with one value. */
const PREVIOUS_STATE = `
  CREATE TABLE instructions (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, source TEXT NOT NULL, instruction TEXT NOT NULL,
    result TEXT, reported INTEGER NOT NULL DEFAULT 0, started_at INTEGER, finished_at INTEGER,
    created_at INTEGER NOT NULL);
  CREATE INDEX instructions_finished ON instructions(finished_at);
  CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE dedup (key TEXT PRIMARY KEY, seen_at INTEGER NOT NULL);
  CREATE INDEX dedup_seen ON dedup(seen_at);
  INSERT INTO kv VALUES ('relay.position', 'prevepoch000-5');`;

/** Runs `sql` on a new database at `path` and closes it. */
function handMade(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  db.exec(sql);
  db.close();
}

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

Deno.test("state: a file of the previous release opens, keeps its values and is stamped", async () => {
  const dir = await tempDir("iatp upgrade é ");
  try {
    handMade(`${dir.path}/agent.db`, PREVIOUS_STATE);
    const st = new AgentState(dir.path, { history: 10 });
    await st.open();
    assert.equal(st.getValue("relay.position"), "prevepoch000-5");
    st.close();
    assert.equal(userVersion(`${dir.path}/agent.db`), AGENT_STATE_SCHEMA_VERSION);
  } finally {
    await dir.remove();
  }
});

Deno.test("state: a file of a release that kept finished instructions whole, and sources as text, drops them on open", async () => {
  const dir = await tempDir("iatp upgrade é ");
  try {
    const file = `${dir.path}/agent.db`;
    const key = "sk-live-0123456789abcdef";
    const card = "4111 1111 1111 1111";
    // A sensor's dedup key as releases before the digest kept it (its source as text), and one as
    // a digest: only the digest can match an event again.
    const hashed = "a".repeat(64);
    const whole = (id: string) =>
      JSON.stringify({
        id,
        plugin_id: "webhook",
        instruction_type: "execute",
        correlation_id: "c-1",
        input_data: { card },
        plugin_configuration: { token: key },
      }).replaceAll("'", "''");
    // Finished rows as releases before the trimming stored them (the whole instruction kept), and
    // one queued row that may still run.
    handMade(
      file,
      `${PREVIOUS_STATE};
      INSERT INTO instructions (id, state, source, instruction, result, reported, finished_at,
        created_at) VALUES
        ('done', 'completed', 'relay', '${whole("done")}', '{"status":"completed"}', 1, 2, 1),
        ('bad', 'failed', 'relay', '${whole("bad")}', '{"status":"failed"}', 0, 2, 1),
        ('next', 'queued', 'relay', '${whole("next")}', NULL, 0, NULL, 1);`,
    );
    const old = new DatabaseSync(file);
    const seen = old.prepare("INSERT INTO dedup VALUES (?, ?)");
    seen.run("login.failed\u0000alice@example.com", Date.now());
    seen.run(hashed, Date.now());
    old.close();
    const st = new AgentState(dir.path, { history: 10 });
    await st.open();
    const kept = { plugin_id: "webhook", instruction_type: "execute", correlation_id: "c-1" };
    assert.deepEqual(st.get("done")?.instruction, { id: "done", ...kept });
    assert.deepEqual(st.get("bad")?.instruction, { id: "bad", ...kept });
    assert.equal(st.get("bad")?.result?.status, "failed", "its result is still delivered");
    assert.deepEqual(
      st.get("next")?.instruction.plugin_configuration,
      { token: key },
      "queued work keeps all of it",
    );
    st.close();
    assert.equal(userVersion(file), AGENT_STATE_SCHEMA_VERSION);
    const db = new DatabaseSync(file, { readOnly: true });
    assert.deepEqual(db.prepare("SELECT key FROM dedup").all().map((r) => r.key), [hashed]);
    db.close();
    // Of the finished rows, nothing is left in the database's files (freed space is overwritten).
    const st2 = new AgentState(dir.path, { history: 10 });
    await st2.open();
    st2.finish("next", "completed", { status: "completed" });
    st2.close();
    for await (const e of Deno.readDir(dir.path)) {
      if (!e.isFile) continue;
      const text = new TextDecoder().decode(await Deno.readFile(`${dir.path}/${e.name}`));
      assert.ok(!text.includes(card), `${e.name} holds the card`);
      assert.ok(!text.includes(key), `${e.name} holds the key`);
      assert.ok(!text.includes("alice@example.com"), `${e.name} holds the source`);
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("state: a file a newer release stamped is refused, unchanged, its name alone on health", async () => {
  const dir = await tempDir("iatp rollback é ");
  try {
    const file = `${dir.path}/agent.db`;
    handMade(file, `${PREVIOUS_STATE}; PRAGMA user_version = ${AGENT_STATE_SCHEMA_VERSION + 1};`);
    const before = await Deno.readFile(file);
    const st = new AgentState(dir.path, { history: 10 });
    await assert.rejects(() => st.open(), { name: "NewerSchemaError" });
    assert.equal(st.isOpen, false);
    assert.equal(
      st.health().reason,
      `last write failed: agent.db has schema version ${AGENT_STATE_SCHEMA_VERSION + 1}, ` +
        "written by a newer iatp " +
        `release (this one reads up to ${AGENT_STATE_SCHEMA_VERSION})`,
    );
    st.close();
    assert.deepEqual(await Deno.readFile(file), before);
  } finally {
    await dir.remove();
  }
});
