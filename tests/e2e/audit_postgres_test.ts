/**
 * `iatp audit` replicas on one PostgreSQL ledger, as real processes: kill -9 one writer under
 * load and every acknowledged receipt still verifies against the final tree (independent
 * verifier), with no hole; the server unreachable at start (exit 2 naming the URL, never the
 * password) and lost mid-run (`/health` degraded with no request made, 503 + Retry-After, then
 * appends again and `/health` ok); a fast restart while two replicas' group commits wait for the
 * writers' lock (both answer 503, neither process ends, both append again); a database user
 * without the rights the ledger needs (exit 2 naming `db`); the tables' schema version (an older
 * one stamped, a newer one refused before anything is written, exit 2 naming `db`).
 */
import assert from "node:assert/strict";
import {
  type ChildService,
  freePort,
  runIatp,
  startIatpService,
  tempDir,
  waitFor,
} from "../helpers.ts";
import {
  eq,
  fromHex,
  refCanonical,
  refLeaf,
  refRoot,
  refVerifyReceipt,
} from "../core/ledger/rfc6962_reference.ts";
import {
  postgresMissing,
  startPostgres,
  testConnection,
  type TestPostgres,
} from "../support/postgres.ts";

const ignore = postgresMissing !== undefined;
const WORKERS = 8;
const ACKS_BEFORE_KILL = 400;
const ACKS_AFTER_KILL = 200;

interface Ack {
  index: number;
  tx_id: string;
  receipt: { tree_size: number; root_hash: string; inclusion_proof: string[]; checkpoint: string };
}

/** Arguments of an audit replica on `db`, its password and key read from files. */
async function replicaArgs(db: TestPostgres, dir: string): Promise<string[]> {
  await Deno.writeTextFile(`${dir}/pg-password`, db.password);
  return [
    "audit",
    "--port",
    "0",
    "--compat",
    "iatp",
    "--db",
    db.urlWithoutPassword,
    "--db-password",
    `file:${dir}/pg-password`,
    "--key-file",
    `${dir}/audit.key`,
    "--max-batch",
    "64",
  ];
}

/** `iatp audit verify` of `db`'s ledger, its password read from `dir`'s file, with `extra` flags. */
function verifyDb(db: TestPostgres, dir: string, extra: string[] = []) {
  return runIatp([
    "audit",
    "verify",
    "--db",
    db.urlWithoutPassword,
    "--db-password",
    `file:${dir}/pg-password`,
    ...extra,
  ], { env: { IATP_DATA_DIR: dir } });
}

/** `iatp_audit_store_ok` of the service's /metrics. */
async function storeOk(url: string): Promise<string | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return /^iatp_audit_store_ok\{[^}]*\} (\d+)$/m.exec(text)?.[1];
}

async function append(url: string, tx: string): Promise<Response> {
  return await fetch(`${url}/audit`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tx_id: tx, event: "pg.test", actor: "t", payload: { tx } }),
  });
}

Deno.test({
  name: "two audit writers on PostgreSQL: kill -9 one mid-load, every ack verifies, no hole",
  ignore,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-audit-pg-");
    const env = { IATP_DATA_DIR: dir.path };
    const args = await replicaArgs(db, dir.path);
    const a = await startIatpService(args, { env });
    const b = await startIatpService(args, { env });
    const acked: Ack[] = [];
    let killedAt = -1;
    let stop = false;
    const worker = async (w: number) => {
      let target = w % 2 === 0 ? a.url : b.url;
      for (let i = 0; !stop; i++) {
        const tx = `w${w}-${i}`;
        try {
          const res = await append(target, tx);
          if (res.status !== 201) {
            await res.body?.cancel();
            continue;
          }
          const body = await res.json();
          acked.push({ index: body.index, tx_id: tx, receipt: body.receipt });
        } catch {
          target = b.url; // writer A died mid-request: that append was never acknowledged
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    try {
      await waitFor(() => acked.length >= ACKS_BEFORE_KILL, 60_000, "appends before the kill");
      a.process.kill("SIGKILL");
      await a.process.status;
      killedAt = acked.length;
      await waitFor(() => acked.length >= killedAt + ACKS_AFTER_KILL, 60_000, "appends after");
      stop = true;
      await Promise.all(workers);

      const cp = await (await fetch(`${b.url}/checkpoint`, {
        headers: { accept: "application/json" },
      })).json();
      assert.ok(cp.tree_size >= acked.length, `tree ${cp.tree_size} < ${acked.length} acks`);
      assert.equal(new Set(acked.map((x) => x.index)).size, acked.length, "an index acked twice");
      const leaves: Uint8Array[] = [];
      const byIndex = new Map<number, { tx_id: string }>();
      for (let i = 0; i < cp.tree_size; i++) {
        const res = await fetch(`${b.url}/entries/${i}`);
        assert.equal(res.status, 200, `hole at ${i}`);
        const e = await res.json();
        const { index, tx_id, event, actor, payload, ts } = e;
        leaves.push(refLeaf(new TextEncoder().encode(
          refCanonical({ index, tx_id, event, actor, payload, ts }),
        )));
        byIndex.set(i, e);
        if (i < 3 || i === cp.tree_size - 1) {
          assert.ok(await refVerifyReceipt(e, e.receipt, cp.vkey), `stored receipt ${i}`);
        }
      }
      const roots = new Map<number, Uint8Array>();
      for (const ack of acked) {
        const e = byIndex.get(ack.index) as Parameters<typeof refVerifyReceipt>[0];
        assert.equal(e.tx_id, ack.tx_id, `entry ${ack.index}`);
        assert.ok(await refVerifyReceipt(e, ack.receipt, cp.vkey), `receipt of ${ack.index}`);
        const size = ack.receipt.tree_size;
        if (!roots.has(size)) roots.set(size, refRoot(leaves.slice(0, size)));
        assert.ok(eq(roots.get(size)!, fromHex(ack.receipt.root_hash)), `tree ${size} rewritten`);
      }
      assert.ok(eq(refRoot(leaves), fromHex(cp.root_hash)), "final root");
      const verify = await verifyDb(db, dir.path);
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stdout, new RegExp(`ok: ${cp.tree_size} entries`));
    } finally {
      stop = true;
      await Promise.all(workers);
      await a.stop("SIGKILL");
      await b.stop();
      await db.stop();
      await dir.remove();
    }
  },
});

Deno.test({
  name: "audit and audit verify: PostgreSQL unreachable exits 2 naming the URL, not the password",
  ignore,
  async fn() {
    const dir = await tempDir("iatp-audit-pg-");
    try {
      const url = `postgres://iatp:hunter2-secret@127.0.0.1:${freePort()}/ledger`;
      const r = await runIatp([
        "audit",
        "--port",
        "0",
        "--db",
        url,
        "--key-file",
        `${dir.path}/k`,
        "--db-connect-timeout",
        "2s",
      ], { env: { IATP_DATA_DIR: dir.path } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /db .*postgres:\/\/iatp@127\.0\.0\.1:[0-9]+\/ledger/);
      assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
      const verify = await runIatp(["audit", "verify", "--db", url], {
        env: { IATP_DATA_DIR: dir.path },
      });
      assert.equal(verify.code, 2, verify.stderr);
      assert.match(verify.stderr, /db .*postgres:\/\/iatp@127\.0\.0\.1:[0-9]+\/ledger/);
      assert.doesNotMatch(verify.stderr + verify.stdout, /hunter2/);
      const noKey = await runIatp(["audit", "--port", "0", "--db", url], {
        env: { IATP_DATA_DIR: dir.path },
      });
      assert.equal(noKey.code, 2);
      assert.match(noKey.stderr, /key_file/);
    } finally {
      await dir.remove();
    }
  },
});

Deno.test({
  name: "audit on PostgreSQL: the server lost mid-run answers 503 + Retry-After, then heals",
  ignore,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-audit-pg-");
    const svc = await startIatpService(await replicaArgs(db, dir.path), {
      env: { IATP_DATA_DIR: dir.path },
    });
    try {
      assert.equal((await append(svc.url, "before")).status, 201);
      const health = async () => await (await fetch(`${svc.url}/health`)).json();
      assert.equal((await health()).status, "ok");
      await db.kill();
      // With no request at all, the idle probe notices the outage.
      await waitFor(async () => (await health()).status === "degraded", 30_000, "degraded");
      const h = await health();
      assert.equal(h.reason, "store: PostgreSQL is unreachable");
      assert.equal(await storeOk(svc.url), "0", "/metrics says so too");
      assert.deepEqual(h.components.store, {
        ok: false,
        engine: "postgres",
        reason: "PostgreSQL is unreachable",
      });
      const down = await append(svc.url, "during");
      assert.equal(down.status, 503);
      assert.ok(Number(down.headers.get("retry-after")) >= 1);
      // Clients are told which engine, never its host, user or database.
      assert.equal((await down.json()).error, "PostgreSQL is unreachable; retry later");
      const read = await fetch(`${svc.url}/entries/0`);
      assert.equal(read.status, 503);
      assert.doesNotMatch(await read.text(), /postgres:|127\.0\.0\.1|iatp@/);
      await db.restart();
      let last = 0;
      await waitFor(
        async () => {
          const res = await append(svc.url, "after");
          last = res.status;
          await res.body?.cancel();
          return last === 201;
        },
        30_000,
        "appends after the server is back",
      );
      const cp = await (await fetch(`${svc.url}/checkpoint`, {
        headers: { accept: "application/json" },
      })).json();
      assert.equal(cp.tree_size, 2, "the refused append was not stored");
      assert.equal((await health()).status, "ok");
      assert.equal(await storeOk(svc.url), "1");
      assert.doesNotMatch(svc.stdout() + svc.stderr(), new RegExp(db.password));
    } finally {
      await svc.stop();
      await db.stop();
      await dir.remove();
    }
  },
});

/** The writers' advisory lock of core/ledger/pg_store.ts (LOCK_KEY). */
const LEDGER_LOCK_KEY = 0x1a7b_a0d1;

Deno.test({
  name: "two audit replicas on PostgreSQL: a fast restart while their group commits wait for the " +
    "writers' lock ends neither; both append again",
  ignore,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-audit-pg-");
    const env = { IATP_DATA_DIR: dir.path };
    const args = await replicaArgs(db, dir.path);
    const replicas: Array<ChildService & { url: string }> = [];
    const exits: Array<Deno.CommandStatus | undefined> = [undefined, undefined];
    let holder: Awaited<ReturnType<typeof testConnection>> | undefined;
    try {
      for (let i = 0; i < 2; i++) {
        const r = await startIatpService(args, { env });
        replicas.push(r);
        r.process.status.then((s) => exits[i] = s);
      }
      // One connection, so the session-level lock below and the wait's queries share a session.
      const pg = holder = await testConnection(db.url, {
        connectTimeoutSeconds: 2,
        maxConnections: 1,
      });
      // Each replica's statements are prepared on its connections, as on any busy replica.
      for (const [i, r] of replicas.entries()) {
        assert.equal((await append(r.url, `before-${i}`)).status, 201);
      }
      // A third writer holds the writers' lock (as a replica's commit under way does), in its
      // session rather than a transaction: no statement of its own is left to send at the restart.
      await pg.sql`SELECT pg_advisory_lock(${LEDGER_LOCK_KEY})`;
      const waiting = replicas.map((r, i) => append(r.url, `waiting-${i}`).catch((e) => e));
      await waitFor(
        async () => {
          const [{ n }] = await pg.sql`SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE application_name = 'iatp-audit' AND wait_event_type = 'Lock'`;
          return n === 2;
        },
        20_000,
        "both replicas' group commits to wait for the lock",
      );
      // The server ends every session (FATAL 57P01) and closes its connection: the waiting
      // commits fail, and their transactions' rollback goes to a connection already closed.
      await db.restartFast();
      for (const [i, res] of (await Promise.all(waiting)).entries()) {
        assert.ok(res instanceof Response, `replica ${i}: no answer (${res})`);
        assert.equal(res.status, 503, `replica ${i}`);
        await res.body?.cancel();
      }
      for (const [i, r] of replicas.entries()) {
        await waitFor(
          async () => {
            if (exits[i]) return true;
            const res = await append(r.url, `after-${i}`);
            await res.body?.cancel();
            return res.status === 201;
          },
          30_000,
          `replica ${i} to append again`,
        );
        assert.equal(
          exits[i],
          undefined,
          `replica ${i} exited (${exits[i]?.code}): ${r.stderr().slice(-2000)}`,
        );
      }
      const cp = await (await fetch(`${replicas[0].url}/checkpoint`, {
        headers: { accept: "application/json" },
      })).json();
      assert.equal(cp.tree_size, 4, "the interrupted commits stored nothing");
    } finally {
      await holder?.close();
      for (const r of replicas) await r.stop();
      await db.stop();
      await dir.remove();
    }
  },
});

Deno.test({
  name: "audit and audit verify: a database user without the rights the ledger needs is a " +
    "config error naming db and the URL (exit 2), never the password",
  ignore,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-audit-pg-");
    const admin = await testConnection(db.url);
    try {
      // PostgreSQL 15 grants no CREATE on schema public to other users.
      await admin.sql.unsafe(`CREATE ROLE reader LOGIN PASSWORD 'reader-s3cret-pw'`);
      const url = `postgres://reader@127.0.0.1:${db.port}/postgres`;
      await Deno.writeTextFile(`${dir.path}/pw`, "reader-s3cret-pw");
      const r = await runIatp([
        "audit",
        "--port",
        "0",
        "--db",
        url,
        "--db-password",
        `file:${dir.path}/pw`,
        "--key-file",
        `${dir.path}/k`,
      ], { env: { IATP_DATA_DIR: dir.path } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /db \(flag --db\): expected a database user that may create/);
      assert.match(
        r.stderr,
        /postgres:\/\/reader@127\.0\.0\.1:[0-9]+\/postgres: permission denied/,
      );
      assert.doesNotMatch(r.stderr + r.stdout, /reader-s3cret-pw/);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
      // The ledger made by its owner, then verified by a user who may not read it.
      const writer = await startIatpService(await replicaArgs(db, dir.path));
      try {
        assert.equal((await append(writer.url, "tx-1")).status, 201);
      } finally {
        await writer.stop();
      }
      const verify = await runIatp([
        "audit",
        "verify",
        "--db",
        url,
        "--db-password",
        `file:${dir.path}/pw`,
      ], { env: { IATP_DATA_DIR: dir.path } });
      assert.equal(verify.code, 2, verify.stderr);
      assert.match(verify.stderr, /db \(flag --db\): expected a database user that may read/);
      assert.match(verify.stderr, /permission denied for table ledger_/);
      assert.doesNotMatch(verify.stderr + verify.stdout, /reader-s3cret-pw/);
    } finally {
      await admin.close();
      await dir.remove();
      await db.stop();
    }
  },
});

Deno.test({
  name: "audit verify: a read the server leaves unanswered ends the check after --timeout (exit 1)",
  ignore,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-audit-pg-");
    const admin = await testConnection(db.url);
    /** The test's own bound: the lock is let go then, whatever verify does. */
    const HOLD_MS = 20_000;
    try {
      const writer = await startIatpService(await replicaArgs(db, dir.path));
      try {
        for (let i = 0; i < 3; i++) assert.equal((await append(writer.url, `tx-${i}`)).status, 201);
      } finally {
        await writer.stop();
      }
      // Another session holds the entries table: verify's read of it waits, unanswered.
      const held = Promise.withResolvers<void>();
      const locked = Promise.withResolvers<void>();
      const holder = admin.sql.begin(async (tx) => {
        await tx`LOCK TABLE ledger_entries IN ACCESS EXCLUSIVE MODE`;
        locked.resolve();
        await held.promise;
      });
      await locked.promise;
      const release = setTimeout(() => held.resolve(), HOLD_MS);
      try {
        const verify = await verifyDb(db, dir.path, ["--timeout", "1s"]);
        assert.equal(verify.code, 1, verify.stderr + verify.stdout);
        assert.match(verify.stderr, /verify could not finish: .*answered no read for 1000 ms/);
        assert.doesNotMatch(verify.stderr, new RegExp(db.password));
      } finally {
        clearTimeout(release);
        held.resolve();
        await holder;
      }
    } finally {
      await admin.close();
      await dir.remove();
      await db.stop();
    }
  },
});

Deno.test({
  name: "audit and audit verify: a statement_timeout, lock_timeout and idle-in-transaction " +
    "timeout of 1 ms set on the database user do not apply (the audit process ended at start)",
  ignore,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-audit-pg-");
    const admin = await testConnection(db.url);
    try {
      for (const setting of ["statement_timeout", "lock_timeout"]) {
        await admin.sql.unsafe(`ALTER ROLE iatp IN DATABASE postgres SET ${setting} = '1ms'`);
      }
      await admin.sql.unsafe(
        `ALTER ROLE iatp IN DATABASE postgres SET idle_in_transaction_session_timeout = '1ms'`,
      );
      // What a connection of the audit service sets instead (its commit_timeout).
      const own = await testConnection(db.url, { statementTimeoutMs: 10_000 });
      try {
        const [row] = await own.sql`SELECT current_setting('statement_timeout') AS s,
          current_setting('lock_timeout') AS l,
          current_setting('idle_in_transaction_session_timeout') AS i`;
        assert.deepEqual({ ...row }, { s: "10s", l: "0", i: "10s" });
      } finally {
        await own.close();
      }
      const writer = await startIatpService(await replicaArgs(db, dir.path));
      try {
        const answers = await Promise.all(
          Array.from({ length: 40 }, (_, i) => append(writer.url, `tx-${i}`)),
        );
        for (const r of answers) assert.equal(r.status, 201, await r.text());
      } finally {
        await writer.stop();
      }
      const verify = await verifyDb(db, dir.path);
      assert.equal(verify.code, 0, verify.stderr + verify.stdout);
    } finally {
      await admin.close();
      await dir.remove();
      await db.stop();
    }
  },
});

Deno.test({
  name: "audit on PostgreSQL: a user granted only reading and writing the ledger's tables (not " +
    "their owner, no CREATE) runs a replica once the owner made them",
  ignore,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-audit-pg-");
    const admin = await testConnection(db.url);
    try {
      const owner = await startIatpService(await replicaArgs(db, dir.path));
      try {
        assert.equal((await append(owner.url, "tx-owner")).status, 201);
      } finally {
        await owner.stop();
      }
      await admin.sql.unsafe(`CREATE ROLE app LOGIN PASSWORD 'app-s3cret-pw'`);
      await admin.sql.unsafe(`GRANT USAGE ON SCHEMA public TO app`);
      await admin.sql.unsafe(`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO app`);
      await Deno.writeTextFile(`${dir.path}/app-pw`, "app-s3cret-pw");
      const app = await startIatpService([
        "audit",
        "--port",
        "0",
        "--compat",
        "iatp",
        "--db",
        `postgres://app@127.0.0.1:${db.port}/postgres`,
        "--db-password",
        `file:${dir.path}/app-pw`,
        "--key-file",
        `${dir.path}/audit.key`,
      ]);
      try {
        const r = await append(app.url, "tx-app");
        assert.equal(r.status, 201, await r.text());
        const entry = await (await fetch(`${app.url}/entries/1`)).json();
        assert.equal(entry.tx_id, "tx-app");
      } finally {
        await app.stop();
      }
    } finally {
      await admin.close();
      await dir.remove();
      await db.stop();
    }
  },
});

Deno.test({
  name: "audit on PostgreSQL: a password from db_password the server refuses is exit 2 naming " +
    "db_password and the URL, never the password",
  ignore,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-audit-pg-");
    try {
      await Deno.writeTextFile(`${dir.path}/pw`, "not-the-s3cret-pw");
      const r = await runIatp([
        "audit",
        "--port",
        "0",
        "--db",
        db.urlWithoutPassword,
        "--db-password",
        `file:${dir.path}/pw`,
        "--key-file",
        `${dir.path}/k`,
      ], { env: { IATP_DATA_DIR: dir.path } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /db_password \(flag --db-password\): expected the password of postgres:\/\/iatp@127\.0\.0\.1:[0-9]+\/postgres, found one the server refused \(password authentication failed/,
      );
      assert.doesNotMatch(r.stderr + r.stdout, /not-the-s3cret-pw/);
      // A password written in the URL stays the URL's error.
      const inUrl = await runIatp([
        "audit",
        "--port",
        "0",
        "--db",
        db.urlWithoutPassword.replace("iatp@", "iatp:not-the-s3cret-pw@"),
        "--key-file",
        `${dir.path}/k`,
      ], { env: { IATP_DATA_DIR: dir.path } });
      assert.equal(inUrl.code, 2, inUrl.stderr);
      assert.match(inUrl.stderr, /db \(flag --db\): expected a reachable PostgreSQL server/);
      assert.doesNotMatch(inUrl.stderr + inUrl.stdout, /not-the-s3cret-pw/);
    } finally {
      await dir.remove();
      await db.stop();
    }
  },
});

Deno.test({
  name: "audit on PostgreSQL: the tables carry a schema version; an older one is stamped by a " +
    "user granted only reading and writing, a newer one is refused before anything is written " +
    "(exit 2 naming db), by audit verify too",
  ignore,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-audit-pg-");
    const admin = await testConnection(db.url);
    const version = async () =>
      (await admin.sql`SELECT value FROM ledger_meta WHERE key = 'schema_version'`)[0]?.value;
    /** Everything the ledger's tables hold, as text. */
    const snapshot = async () =>
      JSON.stringify(
        await admin.sql`SELECT
          (SELECT json_agg(m ORDER BY key) FROM ledger_meta m) AS meta,
          (SELECT json_agg(h) FROM ledger_head h) AS head,
          (SELECT json_agg(e ORDER BY idx) FROM ledger_entries e) AS entries,
          (SELECT json_agg(n ORDER BY level, idx) FROM ledger_nodes n) AS nodes,
          (SELECT json_agg(c ORDER BY tree_size) FROM ledger_checkpoints c) AS checkpoints`,
      );
    const env = { IATP_DATA_DIR: dir.path };
    try {
      const args = await replicaArgs(db, dir.path);
      const owner = await startIatpService(args, { env });
      try {
        assert.equal((await append(owner.url, "tx-owner")).status, 201);
      } finally {
        await owner.stop();
      }
      assert.equal(await version(), "1", "stamped by the start that made the tables");

      // Tables as a release before the stamp left them, run by a user who may only read and
      // write them: it stamps them.
      await admin.sql`DELETE FROM ledger_meta WHERE key = 'schema_version'`;
      await admin.sql.unsafe(`CREATE ROLE app LOGIN PASSWORD 'app-s3cret-pw'`);
      await admin.sql.unsafe(`GRANT USAGE ON SCHEMA public TO app`);
      await admin.sql.unsafe(`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO app`);
      await Deno.writeTextFile(`${dir.path}/app-pw`, "app-s3cret-pw");
      const appArgs = (url: string) => [
        "audit",
        "--port",
        "0",
        "--compat",
        "iatp",
        "--db",
        url,
        "--db-password",
        `file:${dir.path}/app-pw`,
        "--key-file",
        `${dir.path}/audit.key`,
      ];
      const appUrl = `postgres://app@127.0.0.1:${db.port}/postgres`;
      const app = await startIatpService(appArgs(appUrl), { env });
      try {
        assert.equal((await append(app.url, "tx-app")).status, 201);
      } finally {
        await app.stop();
      }
      assert.equal(await version(), "1", "stamped by a user with read and write grants only");

      // Stamped by a newer release: refused, by the owner and by the app user, nothing written.
      await admin.sql`INSERT INTO ledger_meta VALUES ('schema_version', '2')
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`;
      const before = await snapshot();
      for (const run of [args, appArgs(appUrl)]) {
        const r = await runIatp(run, { env });
        assert.equal(r.code, 2, r.stderr);
        assert.match(
          r.stderr,
          /db \(flag --db\): expected a ledger database of schema version 1 or older \(run the release that wrote it, or restore the copy taken before the upgrade\), found postgres:\/\/(iatp|app)@127\.0\.0\.1:[0-9]+\/postgres of schema version 2, written by a newer iatp release/,
        );
        assert.doesNotMatch(r.stderr + r.stdout, /s3cret|pg-test-secret/);
        assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
      }
      const verify = await verifyDb(db, dir.path);
      assert.equal(verify.code, 2, verify.stderr + verify.stdout);
      assert.match(
        verify.stderr,
        /db \(flag --db\): expected a ledger database of schema version 1/,
      );
      assert.equal(await snapshot(), before, "nothing written to a newer release's tables");

      // A newer release's database holding only its meta table: no table is made in it.
      await admin.sql.unsafe(`CREATE DATABASE newer`);
      const newer = await testConnection(db.url.replace(/\/postgres$/, "/newer"));
      try {
        await newer.sql.unsafe(`CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT)`);
        await newer.sql`INSERT INTO ledger_meta VALUES ('schema_version', '3')`;
        const r = await runIatp(
          [
            ...args.slice(0, args.indexOf("--db") + 1),
            db.urlWithoutPassword.replace(
              /\/postgres$/,
              "/newer",
            ),
            ...args.slice(args.indexOf("--db") + 2),
          ],
          { env },
        );
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /\/newer of schema version 3, written by a newer iatp release/);
        const [made] = await newer.sql`SELECT count(*)::int AS n FROM pg_tables
          WHERE schemaname = 'public'`;
        assert.equal(made.n, 1, "only the newer release's meta table");
      } finally {
        await newer.close();
      }
    } finally {
      await admin.close();
      await dir.remove();
      await db.stop();
    }
  },
});

Deno.test({
  name: "an entry the audit takes on PostgreSQL can be read back: one whose stored row would be " +
    "longer than db_max_message is refused when appended (413), not taken and then unreadable",
  ignore,
  async fn() {
    const db = await startPostgres();
    const dir = await tempDir("iatp-audit-pg-");
    const env = { IATP_DATA_DIR: dir.path };
    // A body under max_body_bytes (1 MiB) whose canonical form is four times longer: the number
    // 1e20 is written 100000000000000000000.
    const args = [...await replicaArgs(db, dir.path), "--db-max-message", "2MiB"];
    const svc = await startIatpService(args, { env });
    try {
      const numbers = Array.from({ length: 180_000 }, () => "1e20").join(",");
      const big = `{"tx_id":"big","event":"e","actor":"t","payload":{"n":[${numbers}]}}`;
      assert.ok(big.length < 1024 * 1024);
      const r = await fetch(`${svc.url}/audit`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: big,
      });
      const text = await r.text();
      if (r.status === 201) {
        const index = JSON.parse(text).index;
        const read = await fetch(`${svc.url}/entries/${index}`);
        await read.body?.cancel();
        assert.equal(read.status, 200, "an entry taken is read back");
      } else {
        assert.equal(r.status, 413, text);
        assert.match(text, /db_max_message/);
      }
      // The replica still serves.
      const ok = await append(svc.url, "small");
      assert.equal(ok.status, 201, await ok.text());
    } finally {
      await svc.stop();
      await db.stop();
      await dir.remove();
    }
  },
});
