/**
 * `iatp up --backend nats,postgres` through the launcher, against a real nats-server (with a
 * user and password) and a real PostgreSQL: the relay's events live in the JetStream stream, the
 * policy takes the demo's intents from its shared queue (decisions in JetStream KV) and their
 * decisions land in the ledger on PostgreSQL; `--backend nats` alone does the same with the ledger
 * in SQLite. Without `nats_url`, or with a server out of reach, `up` exits 2 naming the setting
 * and the URL without its password.
 */
import assert from "node:assert/strict";
import { freePort, runIatp, spawnIatp, tempDir, waitFor } from "../helpers.ts";
import { natsMissing, startNats } from "../support/nats.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";

const ADMIN_FILE = "credentials/admin.token";

/** The tx_id of the newest intent in the relay's stream, once there is one. */
async function lastIntent(
  jsm: Awaited<ReturnType<Awaited<ReturnType<typeof startNats>>["manager"]>>,
): Promise<string | undefined> {
  try {
    const m = await jsm.streams.getMessage("IATP_RELAY", { last_by_subj: "relay.access.intent" });
    const body = m?.json<{ tx_id?: string }>();
    return body?.tx_id;
  } catch {
    return undefined;
  }
}

/**
 * Waits for an intent the demo published to be in the relay's stream with its decision in the
 * ledger, then checks that the policy ran on the shared queue (decisions in the KV bucket).
 */
async function assertDecidedOnNats(
  stdout: string,
  data: string,
  jsm: Awaited<ReturnType<Awaited<ReturnType<typeof startNats>>["manager"]>>,
): Promise<void> {
  const audit = /^ {2}audit +(http:\/\/\S+)$/m.exec(stdout)?.[1];
  assert.ok(audit, stdout);
  const admin = (await Deno.readTextFile(`${data}/${ADMIN_FILE}`)).trim();
  let decided: string | undefined;
  await waitFor(
    async () => {
      const tx = await lastIntent(jsm);
      if (tx === undefined) return false;
      const res = await fetch(`${audit}/tx/${encodeURIComponent(tx)}`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      // The audit service answers as upstream by default: a list of entries.
      const body = await res.json() as Array<{ event: string; actor: string }>;
      const ok = res.ok && Array.isArray(body) &&
        body.some((e) => e.event === "access.decision" && e.actor === "policy");
      if (ok) decided = tx;
      return ok;
    },
    60_000,
    "a demo intent in the stream with its decision in the ledger",
  );
  assert.ok(decided?.startsWith("demo-"), decided);
  const decision = await jsm.streams.getMessage("IATP_RELAY", {
    last_by_subj: "relay.access.decision",
  });
  assert.ok(decision, "decisions are published into the stream");
  const kv = await jsm.streams.info("KV_IATP_POLICY_DECISIONS");
  assert.ok(kv.state.messages > 0, JSON.stringify(kv.state));
  assert.ok(!(await Deno.stat(`${data}/policy-state.db`).catch(() => undefined)), "no SQLite");
}

Deno.test({
  name: "up --backend nats,postgres: events in JetStream, demo decisions in the PostgreSQL ledger",
  ignore: natsMissing !== undefined || postgresMissing !== undefined,
  async fn() {
    const nats = await startNats(1, { user: "iatp", pass: "nats-s3cret-pw" });
    const db = await startPostgres().catch(async (err) => {
      await nats.stop();
      throw err;
    });
    const dir = await tempDir("iatp-up-nats-");
    const secrets = await tempDir("iatp-up-nats-secrets-");
    const env = { IATP_DATA_DIR: dir.path };
    await Deno.writeTextFile(`${secrets.path}/pg-password`, db.password);
    await Deno.writeTextFile(`${secrets.path}/nats-password`, "nats-s3cret-pw");
    const up = spawnIatp([
      "up",
      "--services",
      "relay,audit,policy",
      "--base-port",
      "0",
      "--demo-interval",
      "100ms",
      "--backend",
      "nats,postgres",
      "--nats-url",
      nats.url,
      "--nats-user",
      "iatp",
      "--nats-password",
      `file:${secrets.path}/nats-password`,
      "--postgres-url",
      db.urlWithoutPassword,
      "--postgres-password",
      `file:${secrets.path}/pg-password`,
    ], { env });
    try {
      await waitFor(() => up.stdout().includes("Ctrl-C stops everything."), 60_000, "the banner")
        .catch((err) => {
          throw new Error(`${err}\n${up.stdout()}\n${up.stderr()}`, { cause: err });
        });
      await assertDecidedOnNats(up.stdout(), dir.path, await nats.manager());
      assert.ok(!(await Deno.stat(`${dir.path}/audit.db`).catch(() => undefined)), "no SQLite");
      const verify = await runIatp([
        "audit",
        "verify",
        "--db",
        db.urlWithoutPassword,
        "--db-password",
        `file:${secrets.path}/pg-password`,
      ], { env });
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stdout, /ok: [1-9]\d* entries/);
      const out = up.stdout() + up.stderr();
      assert.doesNotMatch(out, new RegExp(db.password));
      assert.doesNotMatch(out, /nats-s3cret-pw/);
    } finally {
      await up.stop();
      await db.stop();
      await nats.stop();
      await dir.remove();
      await secrets.remove();
    }
  },
});

Deno.test({
  name: "up --backend nats alone: relay and policy on JetStream, the ledger in SQLite",
  ignore: natsMissing !== undefined,
  async fn() {
    const nats = await startNats();
    const dir = await tempDir("iatp-up-nats-");
    const up = spawnIatp([
      "up",
      "--services",
      "relay,audit,policy",
      "--base-port",
      "0",
      "--demo-interval",
      "100ms",
      "--backend",
      "nats",
      "--nats-url",
      nats.url,
    ], { env: { IATP_DATA_DIR: dir.path } });
    try {
      await waitFor(() => up.stdout().includes("Ctrl-C stops everything."), 60_000, "the banner")
        .catch((err) => {
          throw new Error(`${err}\n${up.stdout()}\n${up.stderr()}`, { cause: err });
        });
      await assertDecidedOnNats(up.stdout(), dir.path, await nats.manager());
      assert.ok(await Deno.stat(`${dir.path}/audit.db`), "the ledger stays under the data dir");
    } finally {
      await up.stop();
      await nats.stop();
      await dir.remove();
    }
  },
});

Deno.test("up --backend nats without nats_url exits 2 naming it", async () => {
  const dir = await tempDir("iatp-up-nats-");
  try {
    const r = await runIatp(
      ["up", "--services", "relay", "--no-demo", "--base-port", "0", "--backend", "nats"],
      { env: { IATP_DATA_DIR: dir.path } },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /nats_url \(built-in default\): expected a nats:\/\/ URL/);
  } finally {
    await dir.remove();
  }
});

Deno.test("up --backend nats with no server there exits 2 naming the URL without password", async () => {
  const dir = await tempDir("iatp-up-nats-");
  const port = freePort();
  try {
    const r = await runIatp([
      "up",
      "--services",
      "relay,policy",
      "--no-demo",
      "--base-port",
      "0",
      "--backend",
      "nats",
      "--nats-url",
      `nats://iatp:gone-s3cret@127.0.0.1:${port}`,
      "--nats-timeout",
      "1s",
    ], { env: { IATP_DATA_DIR: dir.path } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /nats_url \(flag --nats-url\)/);
    assert.match(r.stderr, new RegExp(`nats://127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(r.stderr + r.stdout, /gone-s3cret/);
  } finally {
    await dir.remove();
  }
});
