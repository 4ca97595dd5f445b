import assert from "node:assert/strict";
import { join } from "node:path";
import { leaveRunningInstruction, writeConfig } from "../core/agents/fixtures.ts";
import { runIatp, tempDir } from "../helpers.ts";

// A state database that is not one (cut short by a failing disk, overwritten, restored from the
// wrong file) is a start-up problem of the setting that names it: exit 2 naming the setting, the
// file and SQLite's cause, and the file is left where it is (it may still hold unreported results;
// SQLite may have switched another program's database to WAL before it found the tables wrong).
for (
  const [what, bytes, cause] of [
    ["random bytes", crypto.getRandomValues(new Uint8Array(8192)), /file is not a database/],
    [
      "a database cut short",
      undefined,
      /database disk image is malformed/,
    ],
    ["another program's tables", "foreign", /no such column: finished_at/],
  ] as const
) {
  Deno.test(`iatp action: a state database that holds ${what} stops the start naming agent.base_folder`, async () => {
    const dir = await tempDir();
    try {
      const base = join(dir.path, "base");
      const state = join(base, "data", "state");
      await Deno.mkdir(state, { recursive: true, mode: 0o700 });
      const file = join(state, "agent.db");
      await Deno.writeFile(
        file,
        bytes === "foreign"
          ? await foreignDatabase(dir.path)
          : bytes ?? await cutShortDatabase(dir.path),
        { mode: 0o600 },
      );
      const before = await Deno.readFile(file);
      const cfg = await writeConfig(dir.path, "action.yaml", {
        agent: { id: "damaged", base_folder: base },
        api: { base_url: "http://127.0.0.1:9" },
        security: { auth: { api_key: "damaged-key-123456" } },
        health: { port: 0 },
      });
      const r = await runIatp(["action", "--config", cfg]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /config error: agent\.base_folder \(.*action\.yaml:\d+\)/);
      assert.ok(r.stderr.includes(file), r.stderr);
      assert.match(r.stderr, cause);
      assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+/m);
      if (bytes !== "foreign") assert.deepEqual(await Deno.readFile(file), before);
      else await assertForeignKept(file);
    } finally {
      await dir.remove();
    }
  });
}

/** A whole SQLite database of another program, with a table of the same name. */
async function foreignDatabase(dir: string): Promise<Uint8Array> {
  const { DatabaseSync } = await import("node:sqlite");
  const path = join(dir, "foreign.db");
  const db = new DatabaseSync(path);
  db.exec("CREATE TABLE instructions(step TEXT); INSERT INTO instructions VALUES ('one')");
  db.close();
  return await Deno.readFile(path);
}

/** The other program's table and row are still there (SQLite may have changed its header). */
async function assertForeignKept(path: string): Promise<void> {
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(path);
  try {
    const rows = db.prepare("SELECT step FROM instructions").all();
    assert.deepEqual(rows.map((r) => r.step), ["one"]);
  } finally {
    db.close();
  }
}

/** A real SQLite database of several pages, cut to its first two. */
async function cutShortDatabase(dir: string): Promise<Uint8Array> {
  const { DatabaseSync } = await import("node:sqlite");
  const path = join(dir, "whole.db");
  const db = new DatabaseSync(path);
  db.exec("CREATE TABLE t(x TEXT)");
  const insert = db.prepare("INSERT INTO t(x) VALUES (?)");
  for (let i = 0; i < 200; i++) insert.run("x".repeat(1000));
  db.close();
  return (await Deno.readFile(path)).slice(0, 8192);
}

/**
 * Runs `fn` with the state of an earlier run (an instruction left running, so the next start
 * writes) under `<dir>/base`, while another connection (a sqlite3 shell, say) holds its write lock.
 */
async function withLockedState(
  fn: (dir: string, base: string, file: string) => Promise<void>,
): Promise<void> {
  const dir = await tempDir();
  const { DatabaseSync } = await import("node:sqlite");
  try {
    const base = join(dir.path, "base");
    const file = await leaveRunningInstruction(join(base, "data", "state"));
    const other = new DatabaseSync(file);
    other.exec("BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS held(x)");
    try {
      await fn(dir.path, base, file);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
  } finally {
    await dir.remove();
  }
}

Deno.test("iatp action: a state database another process holds locked stops the start naming agent.base_folder", async () => {
  await withLockedState(async (dir, base, file) => {
    const cfg = await writeConfig(dir, "action.yaml", {
      agent: { id: "locked", base_folder: base },
      api: { base_url: "http://127.0.0.1:9" },
      security: { auth: { api_key: "locked-key-123456" } },
      health: { port: 0 },
    });
    const r = await runIatp(["action", "--config", cfg]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /config error: agent\.base_folder \(.*action\.yaml:\d+\)/);
    assert.ok(r.stderr.includes(file), r.stderr);
    assert.match(r.stderr, /database is locked/);
    assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+/m);
  });
});

Deno.test("iatp action: agent.state_busy_timeout bounds the wait for a state database another process holds", async () => {
  await withLockedState(async (dir, base) => {
    /** The start's time to its refusal with the setting at `wait`. */
    const refusedAfter = async (wait: string): Promise<number> => {
      const cfg = await writeConfig(dir, `action-${wait}.yaml`, {
        agent: { id: "locked", base_folder: base, state_busy_timeout: wait },
        api: { base_url: "http://127.0.0.1:9" },
        security: { auth: { api_key: "locked-key-123456" } },
        health: { port: 0 },
      });
      const t0 = performance.now();
      const r = await runIatp(["action", "--config", cfg]);
      const took = performance.now() - t0;
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /database is locked/);
      return took;
    };
    const short = await refusedAfter("100ms");
    const long = await refusedAfter("4s");
    // Both include a process start; only the wait differs (3.9 s).
    assert.ok(long - short > 2_000, `100ms: ${Math.round(short)} ms, 4s: ${Math.round(long)} ms`);
  });
});
