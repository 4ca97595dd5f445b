import assert from "node:assert/strict";
import { verifyLedgerFile } from "../../../core/ledger/verify.ts";
import { Ledger, LedgerCorruptError } from "../../../core/ledger/ledger.ts";
import { LedgerStore } from "../../../core/ledger/store.ts";
import { parseVkey, verifyReceipt } from "../../../core/ledger/proof/mod.ts";
import { FIXTURE_SIZE, fixtureLedger, rewriteTree, tamper, TAMPERS } from "./tamper_helpers.ts";

Deno.test("an untouched ledger verifies", async () => {
  const t = await fixtureLedger();
  try {
    const r = await verifyLedgerFile(t.path);
    assert.equal(r.ok, true, r.reason);
    assert.equal(r.entries, FIXTURE_SIZE);
    assert.equal(r.checkpoints, 6);
  } finally {
    await t.dir.remove();
  }
});

for (const tc of TAMPERS) {
  Deno.test(`offline verify catches: ${tc.name}`, async () => {
    const t = await fixtureLedger();
    try {
      tamper(t.path, tc.apply);
      const r = await verifyLedgerFile(t.path);
      assert.equal(r.ok, false);
      // A recomputed leaf hash is only caught at the subtree covering it: its pair's first index.
      const want = tc.name.includes("recompute") ? tc.badIndex & ~1 : tc.badIndex;
      assert.equal(r.bad_index, want, r.reason);
    } finally {
      await t.dir.remove();
    }
  });
}

Deno.test("offline verify catches a forged checkpoint signature and a foreign pinned key", async () => {
  const t = await fixtureLedger();
  try {
    const good = await verifyLedgerFile(t.path);
    assert.ok(good.ok);
    const other = "iatp-audit/x+00000000+AQ" + "A".repeat(42) + "=";
    const pinned = await verifyLedgerFile(t.path, { vkey: other });
    assert.equal(pinned.ok, false);
    tamper(t.path, (db) => {
      const row = db.prepare("SELECT note FROM checkpoints WHERE tree_size = 11").get() as {
        note: string;
      };
      const forged = row.note.replace(
        / (\S)(\S+)\n$/,
        (_m, c, rest) => ` ${c === "A" ? "B" : "A"}${rest}\n`,
      );
      db.prepare("UPDATE checkpoints SET note = ? WHERE tree_size = 11").run(forged);
    });
    const r = await verifyLedgerFile(t.path);
    assert.equal(r.ok, false);
    assert.equal(r.bad_index, 10, r.reason);
  } finally {
    await t.dir.remove();
  }
});

Deno.test("an entry rewritten with its tree and stored roots, the signed notes kept, fails verify and start", async () => {
  const t = await fixtureLedger();
  try {
    // Checkpoints at 1, 4, 11, 13, 24, 40: entry 17 is first covered by the note of 24.
    tamper(t.path, (db) => rewriteTree(db, 17));
    const r = await verifyLedgerFile(t.path);
    assert.equal(r.ok, false, "a rewritten entry verified");
    assert.equal(r.bad_index, 23, r.reason);
    assert.match(r.reason ?? "", /checkpoint 24 signs another root than the stored tree's/);
    await assert.rejects(
      Ledger.open({ store: new LedgerStore(t.path), key: t.key }),
      (err: Error) =>
        err instanceof LedgerCorruptError &&
        /checkpoint 40 signs another root/.test(err.message),
    );
  } finally {
    await t.dir.remove();
  }
});

for (const tc of TAMPERS.filter((t) => !t.name.includes("last"))) {
  Deno.test(`a ledger started on a store changed outside it serves no receipt for it: ${tc.name}`, async () => {
    const t = await fixtureLedger();
    tamper(t.path, tc.apply);
    const ledger = await Ledger.open({ store: new LedgerStore(t.path), key: t.key });
    try {
      assert.equal(ledger.storeHealth().ok, true);
      assert.throws(
        () => ledger.entry(tc.badIndex),
        (err: Error) =>
          err instanceof LedgerCorruptError &&
          /the store was changed outside the ledger|is missing/.test(err.message),
      );
      const health = ledger.storeHealth();
      assert.equal(health.ok, false);
      assert.match(health.reason ?? "", new RegExp(`entry ${tc.badIndex}|tree node 0/`));
      // An entry whose proof reads nothing changed is still served, with a receipt that verifies.
      const next = ledger.entry((tc.badIndex + 16) % FIXTURE_SIZE)!;
      const ok = await verifyReceipt(next, next.receipt, { key: parseVkey(ledger.vkey) });
      assert.ok(ok.ok, ok.reason);
    } finally {
      await ledger.close();
      await t.dir.remove();
    }
  });
}
