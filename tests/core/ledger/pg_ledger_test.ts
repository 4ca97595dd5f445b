/**
 * The ledger on a real throwaway PostgreSQL: two replicas on one sequence, receipts and proofs
 * checked by the independent reference verifier, idempotency across replicas, the key check,
 * and an outage answered with UnavailableError then healed by reconnection.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../../core/crypto/mod.ts";
import { UnavailableError } from "../../../core/errors/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { IdempotencyConflictError } from "../../../core/ledger/errors.ts";
import { PgLedger } from "../../../core/ledger/pg_ledger.ts";
import { verifyLedgerPostgres } from "../../../core/ledger/pg_verify.ts";
import { waitFor } from "../../helpers.ts";
import { postgresMissing, startPostgres, testConnection } from "../../support/postgres.ts";
import { input } from "./ledger_helpers.ts";
import {
  eq,
  fromHex,
  refCanonical,
  refCheckConsistency,
  refLeaf,
  refRoot,
  refRootFromPath,
  refVerifyReceipt,
} from "./rfc6962_reference.ts";

const ignore = postgresMissing !== undefined;

function client(url: string) {
  return testConnection(url, { connectTimeoutSeconds: 2 });
}

function leafOf(
  e: { index: number; tx_id: string; event: string; actor: string; payload: unknown; ts: string },
) {
  const { index, tx_id, event, actor, payload, ts } = e;
  return refLeaf(
    new TextEncoder().encode(refCanonical({ index, tx_id, event, actor, payload, ts })),
  );
}

Deno.test({
  name: "two PostgreSQL replicas extend one tree; every receipt and proof checks out",
  ignore,
  async fn() {
    const db = await startPostgres();
    const key = await generateKeyPair();
    const a = await PgLedger.open({ pg: await client(db.url), key, maxBatch: 50 });
    const b = await PgLedger.open({ pg: await client(db.url), key, maxBatch: 50 });
    try {
      assert.equal(a.vkey, b.vkey);
      const acks = await Promise.all(
        Array.from({ length: 400 }, (_, i) => (i % 2 ? a : b).append(input(i))),
      );
      const indexes = acks.map((r) => r.index).sort((x, y) => x - y);
      assert.deepEqual(indexes, Array.from({ length: 400 }, (_, i) => i), "one gapless sequence");
      const entries = await Promise.all(indexes.map((i) => a.entry(i)));
      const leaves = entries.map((e) => leafOf(e!));
      const roots = new Map<number, Uint8Array>();
      for (const [i, ack] of acks.entries()) {
        const e = entries[ack.index]!;
        assert.equal(e.tx_id, `tx-${i}`);
        assert.ok(await refVerifyReceipt(e, ack.receipt, a.vkey), `receipt of ${ack.index}`);
        const size = ack.receipt.tree_size;
        if (!roots.has(size)) roots.set(size, refRoot(leaves.slice(0, size)));
        assert.ok(eq(roots.get(size)!, fromHex(ack.receipt.root_hash)), `root of tree ${size}`);
        assert.ok(await refVerifyReceipt(e, e.receipt, b.vkey), `stored receipt of ${ack.index}`);
      }
      assert.equal(await b.treeSize(), 400);
      const inc = await b.inclusion(123, 300);
      const root = refRootFromPath(123, 300, leaves[123], inc.inclusion_proof.map(fromHex));
      assert.ok(root && eq(root, refRoot(leaves.slice(0, 300))));
      const con = await a.consistency(77, 400);
      assert.ok(refCheckConsistency(
        77,
        400,
        refRoot(leaves.slice(0, 77)),
        refRoot(leaves),
        con.consistency_proof.map(fromHex),
      ));
      assert.equal((await a.entriesForTx("tx-5", 10)).length, 1);
      assert.equal(await a.entry(400), undefined);
    } finally {
      await a.close();
      await b.close();
      await db.stop();
    }
  },
});

Deno.test({
  name: "an idempotency key holds across replicas, and a foreign key is refused",
  ignore,
  async fn() {
    const db = await startPostgres();
    const key = await generateKeyPair();
    const a = await PgLedger.open({ pg: await client(db.url), key });
    const b = await PgLedger.open({ pg: await client(db.url), key });
    try {
      const [x, y] = await Promise.all([
        a.append(input(1), { idempotencyKey: "k1" }),
        b.append(input(1), { idempotencyKey: "k1" }),
      ]);
      assert.equal(x.index, y.index);
      assert.deepEqual(x.receipt, y.receipt);
      await assert.rejects(b.append(input(2), { idempotencyKey: "k1" }), IdempotencyConflictError);
      assert.equal(await a.treeSize(), 1);
      await assert.rejects(
        PgLedger.open({ pg: await client(db.url), key: await generateKeyPair() }),
        /configured key differs/,
      );
    } finally {
      await a.close();
      await b.close();
      await db.stop();
    }
  },
});

Deno.test({
  name: "a database user who may read the tables but not write them is refused at open " +
    "(insufficient privilege, naming what is missing), not at its first append",
  ignore,
  async fn() {
    const db = await startPostgres();
    const key = await generateKeyPair();
    const owner = await PgLedger.open({ pg: await client(db.url), key });
    const admin = await client(db.url);
    try {
      await owner.append(input(1));
      await admin.sql.unsafe(`CREATE ROLE reader LOGIN PASSWORD 'reader-pw'`);
      await admin.sql.unsafe(`GRANT USAGE ON SCHEMA public TO reader`);
      await admin.sql.unsafe(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader`);
      const readerUrl = `postgres://reader:reader-pw@127.0.0.1:${db.port}/postgres`;
      const pg = await client(readerUrl);
      try {
        await assert.rejects(PgLedger.open({ pg, key }), (err: Error & { code?: string }) => {
          assert.equal(err.code, "42501", String(err));
          assert.match(err.message, /INSERT on ledger_entries/);
          assert.match(err.message, /UPDATE on ledger_head/);
          return true;
        });
      } finally {
        await pg.close();
      }
      // Granted what a replica writes, the same user opens and appends.
      await admin.sql.unsafe(`GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO reader`);
      const replica = await PgLedger.open({ pg: await client(readerUrl), key });
      try {
        assert.equal((await replica.append(input(2))).index, 1);
      } finally {
        await replica.close();
      }
    } finally {
      await owner.close();
      await admin.close();
      await db.stop();
    }
  },
});

Deno.test({
  name: "the server lost mid-run: 503 while down, appends again after reconnection",
  ignore,
  async fn() {
    const db = await startPostgres();
    const key = await generateKeyPair();
    const ledger = await PgLedger.open({
      pg: await client(db.url),
      key,
      reconnect: { baseMs: 20, maxMs: 200 },
    });
    try {
      const first = await ledger.append(input(0));
      await db.kill();
      await assert.rejects(ledger.append(input(1)), UnavailableError);
      await assert.rejects(ledger.entry(0), UnavailableError);
      assert.equal(ledger.reachable, false);
      await db.restart();
      await waitFor(() => ledger.reachable, 20_000, "reconnection");
      const next = await ledger.append(input(2));
      assert.equal(next.index, first.index + 1, "the refused append left no hole");
      assert.ok(await refVerifyReceipt((await ledger.entry(1))!, next.receipt, ledger.vkey));
    } finally {
      await ledger.close();
      await db.stop();
    }
  },
});

Deno.test({
  name: "the server lost mid-run: the appends refused meanwhile are one log line with their " +
    "count, not one a batch",
  ignore,
  async fn() {
    const db = await startPostgres();
    const lines: string[] = [];
    const ledger = await PgLedger.open({
      pg: await client(db.url),
      key: await generateKeyPair(),
      log: createLogger({ service: "t", sink: (l) => lines.push(l) }),
    });
    try {
      await ledger.append(input(0));
      await db.kill();
      for (let i = 1; i <= 20; i++) await assert.rejects(ledger.append(input(i)), UnavailableError);
      const failed = lines.filter((l) => l.includes("ledger commit failed"));
      assert.equal(failed.length, 1, failed.join("\n"));
      assert.equal(JSON.parse(failed[0]).fields.count, 1);
    } finally {
      await ledger.close();
      await db.stop();
    }
  },
});

Deno.test({
  name: "verify on PostgreSQL reads past one scan chunk and names the first tampered entry",
  ignore,
  async fn() {
    const db = await startPostgres();
    const key = await generateKeyPair();
    const ledger = await PgLedger.open({ pg: await client(db.url), key, maxBatch: 1000 });
    const pg = await client(db.url);
    try {
      // More entries than one scan chunk (4096 rows), so the keyset pagination is exercised.
      await Promise.all(Array.from({ length: 5000 }, (_, i) => ledger.append(input(i))));
      const ok = await verifyLedgerPostgres(pg);
      assert.deepEqual([ok.ok, ok.entries], [true, 5000], JSON.stringify(ok));
      await pg.sql`UPDATE ledger_entries SET body = body || ' ' WHERE idx = 4500`;
      const bad = await verifyLedgerPostgres(pg);
      assert.equal(bad.ok, false);
      assert.equal(bad.bad_index, 4500, JSON.stringify(bad));
      assert.match(String(bad.reason), /entry 4500/);
      // The running replica serves no receipt for it, says why, and turns its store not ok.
      await assert.rejects(ledger.entry(4500), /entry 4500 does not match its leaf hash/);
      assert.equal(ledger.storeHealth().ok, false);
      assert.match(String(ledger.storeHealth().reason), /the store was changed outside/);
      assert.equal((await ledger.entry(4499))?.index, 4499);
    } finally {
      await ledger.close();
      await pg.close();
      await db.stop();
    }
  },
});

Deno.test({
  name: "a hung server: reads and appends answer 503 after commit_timeout; a retry by key resolves",
  ignore,
  async fn() {
    const db = await startPostgres();
    const key = await generateKeyPair();
    const ledger = await PgLedger.open({
      pg: await client(db.url),
      key,
      commitTimeoutMs: 500,
      reconnect: { baseMs: 20, maxMs: 200 },
    });
    try {
      const first = await ledger.append(input(0));
      db.pause();
      await assert.rejects(ledger.entry(0), UnavailableError); // a read times out too
      db.resume();
      await waitFor(() => ledger.reachable, 20_000, "reconnection");
      db.pause();
      // The commit may or may not land once the server goes on: its outcome is in doubt.
      await assert.rejects(ledger.append(input(1), { idempotencyKey: "doubt" }), UnavailableError);
      db.resume();
      await waitFor(() => ledger.reachable, 20_000, "reconnection");
      const retried = await ledger.append(input(1), { idempotencyKey: "doubt" });
      assert.equal(retried.index, first.index + 1);
      const next = await ledger.append(input(2));
      assert.equal(next.index, retried.index + 1, "the key stored the in-doubt entry once");
      assert.equal(await ledger.treeSize(), 3);
    } finally {
      db.resume();
      await ledger.close();
      await db.stop();
    }
  },
});
