/**
 * `iatp up --backend postgres` through the launcher: the mesh's audit ledger lives in a real
 * PostgreSQL the user runs (an authenticated append lands there and `iatp audit verify --db
 * postgres://...` checks it), `--backend postgres` without a URL exits 2 naming the setting, and
 * a data dir holding a SQLite ledger is refused for PostgreSQL and one whose key signs a
 * PostgreSQL ledger is refused for SQLite (the key would sign a second log).
 */
import assert from "node:assert/strict";
import { runIatp, spawnIatp, tempDir, waitFor } from "../helpers.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";

Deno.test({
  name: "up --backend postgres keeps the audit ledger in PostgreSQL",
  ignore: postgresMissing !== undefined,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-up-pg-");
    const env = { IATP_DATA_DIR: dir.path };
    await Deno.writeTextFile(`${dir.path}/pg-password`, db.password);
    const pgArgs = ["--db", db.urlWithoutPassword, "--db-password", `file:${dir.path}/pg-password`];
    const up = spawnIatp([
      "up",
      "--services",
      "audit",
      "--no-demo",
      "--audit-port",
      "0",
      "--backend",
      "postgres",
      "--postgres-url",
      db.urlWithoutPassword,
      "--postgres-password",
      `file:${dir.path}/pg-password`,
    ], { env });
    try {
      await waitFor(() => up.stdout().includes("Ctrl-C stops everything."), 60_000, "the banner")
        .catch((err) => {
          throw new Error(`${err}\n${up.stdout()}\n${up.stderr()}`, { cause: err });
        });
      const audit = /^ {2}audit +(http:\/\/\S+)$/m.exec(up.stdout())?.[1];
      assert.ok(audit, up.stdout());
      const admin = (await Deno.readTextFile(`${dir.path}/credentials/admin.token`)).trim();
      const res = await fetch(`${audit}/audit`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${admin}` },
        body: JSON.stringify({ tx_id: "up-pg-1", event: "t", actor: "t", payload: {} }),
      });
      const body = await res.json();
      assert.ok(res.ok, JSON.stringify(body));
      assert.equal(body.index, 0);
      const verify = await runIatp(["audit", "verify", ...pgArgs], { env });
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stdout, /ok: 1 entries/);
      assert.ok(!(await Deno.stat(`${dir.path}/audit.db`).catch(() => undefined)), "no SQLite");
      assert.doesNotMatch(up.stdout() + up.stderr(), new RegExp(db.password));
      await up.stop();
      // Back on SQLite, the key that signs the PostgreSQL ledger would sign a second log.
      const sqlite = await runIatp(
        ["up", "--services", "audit", "--no-demo", "--audit-port", "0"],
        { env, timeoutMs: 30_000 },
      );
      assert.equal(sqlite.code, 2, sqlite.stdout + sqlite.stderr);
      assert.match(
        sqlite.stderr,
        /backend \(built-in default\): expected audit\.db beside audit\.db\.key/,
      );
      assert.ok(!(await Deno.stat(`${dir.path}/audit.db`).catch(() => undefined)), "no SQLite");
    } finally {
      await up.stop();
      await db.stop();
      await dir.remove();
    }
  },
});

Deno.test("up --backend postgres without postgres_url exits 2 naming it", async () => {
  const dir = await tempDir("iatp-up-pg-");
  try {
    const r = await runIatp(
      ["up", "--services", "audit", "--no-demo", "--audit-port", "0", "--backend", "postgres"],
      { env: { IATP_DATA_DIR: dir.path } },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /postgres_url/);
  } finally {
    await dir.remove();
  }
});

Deno.test({
  name: "up --backend postgres on a data dir holding a SQLite ledger exits 2 naming backend",
  ignore: postgresMissing !== undefined,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-up-pg-");
    const env = { IATP_DATA_DIR: dir.path };
    const audit = ["up", "--services", "audit", "--no-demo", "--audit-port", "0"];
    const sqlite = spawnIatp(audit, { env });
    try {
      await waitFor(() => sqlite.stdout().includes("Ctrl-C stops everything."), 60_000, "up")
        .catch((err) => {
          throw new Error(`${err}\n${sqlite.stdout()}\n${sqlite.stderr()}`, { cause: err });
        });
      const url = /^ {2}audit +(http:\/\/\S+)$/m.exec(sqlite.stdout())?.[1];
      const admin = (await Deno.readTextFile(`${dir.path}/credentials/admin.token`)).trim();
      const res = await fetch(`${url}/audit`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${admin}` },
        body: JSON.stringify({ tx_id: "up-sqlite-1", event: "t", actor: "t", payload: {} }),
      });
      assert.ok(res.ok, await res.text());
      await sqlite.stop();
      await Deno.writeTextFile(`${dir.path}/pg-password`, db.password);
      const r = await runIatp([
        ...audit,
        "--backend",
        "postgres",
        "--postgres-url",
        db.urlWithoutPassword,
        "--postgres-password",
        `file:${dir.path}/pg-password`,
      ], { env, timeoutMs: 30_000 });
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /backend \(flag --backend\): expected a data dir without a SQLite/);
      assert.ok(r.stderr.includes(`${dir.path}/audit.db`), r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, new RegExp(db.password));
      const verify = await runIatp(["audit", "verify", "--db", `${dir.path}/audit.db`], { env });
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stdout, /ok: 1 entries/);
    } finally {
      await sqlite.stop();
      await db.stop();
      await dir.remove();
    }
  },
});
