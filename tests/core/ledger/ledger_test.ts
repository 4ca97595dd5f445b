import assert from "node:assert/strict";
import { generateKeyPair } from "../../../core/crypto/mod.ts";
import type { LedgerEntry } from "../../../core/ledger/entry.ts";
import {
  IdempotencyConflictError,
  Ledger,
  LedgerBusyError,
  LedgerCorruptError,
} from "../../../core/ledger/ledger.ts";
import { verifyReceipt } from "../../../core/ledger/proof/mod.ts";
import { LedgerStore } from "../../../core/ledger/store.ts";
import { decodeBase64 } from "../../../core/encoding/mod.ts";
import { input, tempLedger } from "./ledger_helpers.ts";
import {
  fromHex,
  refCanonical,
  refCheckConsistency,
  refLeaf,
  refRoot,
  refRootFromPath,
  refVerifyReceipt,
  toHexRef,
} from "./rfc6962_reference.ts";

Deno.test("concurrent appends share commits and every receipt verifies independently", async () => {
  const t = await tempLedger();
  try {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => t.ledger.append(input(i))),
    );
    assert.deepEqual(results.map((r) => r.index).sort((a, b) => a - b), [...Array(200).keys()]);
    const commits = (t.ledger.store.db.prepare("SELECT COUNT(*) AS n FROM checkpoints").get() as {
      n: number;
    }).n;
    assert.ok(commits < 200, `group commit: ${commits} commits for 200 appends`);
    for (const r of results) {
      const e = t.ledger.entry(r.index)!;
      assert.equal(r.leaf_hash, e.leaf_hash);
      assert.ok(await refVerifyReceipt(e, r.receipt, t.ledger.vkey), `receipt ${r.index}`);
      const ok = await verifyReceipt(e, r.receipt, { publicKey: t.key.publicRaw });
      assert.ok(ok.ok, ok.reason);
    }
    const e0 = t.ledger.entry(results[0].index)!;
    const forged: LedgerEntry = { ...e0, payload: { ...e0.payload, ok: "forged" } };
    assert.ok(!(await refVerifyReceipt(forged, results[0].receipt, t.ledger.vkey)));
    const bad = await verifyReceipt(forged, results[0].receipt, { publicKey: t.key.publicRaw });
    assert.equal(bad.ok, false);
    const other = await generateKeyPair();
    const wrongKey = await verifyReceipt(e0, results[0].receipt, { publicKey: other.publicRaw });
    assert.equal(wrongKey.ok, false);
  } finally {
    await t.done();
  }
});

Deno.test("Idempotency-Key returns the same receipt; reuse for another entry conflicts", async () => {
  const t = await tempLedger();
  try {
    const [a, b] = await Promise.all([
      t.ledger.append(input(1), { idempotencyKey: "k1" }),
      t.ledger.append(input(1), { idempotencyKey: "k1" }),
    ]);
    assert.deepEqual(a, b);
    await t.ledger.append(input(2));
    const again = await t.ledger.append(input(1), { idempotencyKey: "k1" });
    assert.deepEqual(again, a);
    await assert.rejects(
      t.ledger.append(input(3), { idempotencyKey: "k1" }),
      IdempotencyConflictError,
    );
    assert.equal(t.ledger.size, 2);
  } finally {
    await t.done();
  }
});

Deno.test("proofs at every size after uneven batches match the RFC definitions", async () => {
  const t = await tempLedger();
  try {
    let i = 0;
    for (const batch of [1, 2, 3, 5, 8, 13, 1, 1, 30, 7]) {
      await Promise.all(Array.from({ length: batch }, () => t.ledger.append(input(i++))));
    }
    const n = t.ledger.size;
    assert.equal(n, 71);
    const leaves = Array.from({ length: n }, (_, k) => {
      const { index, tx_id, event, actor, payload, ts } = t.ledger.entry(k)!;
      return refLeaf(
        new TextEncoder().encode(refCanonical({ index, tx_id, event, actor, payload, ts })),
      );
    });
    for (let size = 1; size <= n; size++) {
      const root = refRoot(leaves.slice(0, size));
      for (const idx of new Set([0, size - 1, Math.floor(size / 2), (size * 7) % size])) {
        const p = t.ledger.inclusion(idx, size);
        assert.equal(p.root_hash, toHexRef(root));
        const got = refRootFromPath(idx, size, leaves[idx], p.inclusion_proof.map(fromHex));
        assert.equal(got && toHexRef(got), toHexRef(root), `inclusion ${idx}/${size}`);
      }
      for (const first of new Set([1, Math.max(1, size - 1), Math.ceil(size / 3), size])) {
        const c = t.ledger.consistency(first, size);
        assert.ok(
          refCheckConsistency(
            first,
            size,
            refRoot(leaves.slice(0, first)),
            root,
            c.consistency_proof.map(fromHex),
          ),
          `consistency ${first}->${size}`,
        );
      }
    }
  } finally {
    await t.done();
  }
});

Deno.test("reopening restores the tree; a different key is refused", async () => {
  const t = await tempLedger();
  try {
    await Promise.all(Array.from({ length: 9 }, (_, i) => t.ledger.append(input(i))));
    const root9 = t.ledger.inclusion(0, 9).root_hash;
    await t.ledger.close();
    const reopened = await Ledger.open({ store: new LedgerStore(t.path), key: t.key });
    assert.equal(reopened.size, 9);
    const r = await reopened.append(input(9));
    assert.equal(r.index, 9);
    const c = reopened.consistency(9, 10);
    assert.ok(
      refCheckConsistency(
        9,
        10,
        fromHex(root9),
        fromHex(c.second_root),
        c.consistency_proof.map(fromHex),
      ),
    );
    await reopened.close();
    const other = await generateKeyPair();
    const store = new LedgerStore(t.path);
    await assert.rejects(async () => await Ledger.open({ store, key: other }), LedgerCorruptError);
    store.close();
  } finally {
    await t.done();
  }
});

Deno.test("a full queue refuses appends instead of growing without bound", async () => {
  const t = await tempLedger({ maxPending: 3 });
  try {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => t.ledger.append(input(i))),
    );
    const refused = results.filter((r) => r.status === "rejected");
    assert.ok(refused.length > 0);
    for (const r of refused) {
      assert.ok((r as PromiseRejectedResult).reason instanceof LedgerBusyError);
    }
    assert.equal(t.ledger.size, results.length - refused.length);
  } finally {
    await t.done();
  }
});

Deno.test("verifyReceipt rejects malformed receipts without throwing", async () => {
  const t = await tempLedger();
  try {
    const r = await t.ledger.append(input(0));
    const e = t.ledger.entry(0)!;
    const pub = decodeBase64(t.ledger.vkey.split("+").slice(2).join("+")).slice(1);
    assert.ok((await verifyReceipt(e, r.receipt, { publicKey: pub })).ok);
    for (
      const bad of [
        { ...r.receipt, inclusion_proof: ["zz"] },
        { ...r.receipt, root_hash: "00" },
        { ...r.receipt, tree_size: 2 },
        { ...r.receipt, checkpoint: "garbage" },
        null,
      ]
    ) {
      // deno-lint-ignore no-explicit-any -- deliberately malformed input
      const res = await verifyReceipt(e, bad as any);
      assert.equal(res.ok, false);
      assert.ok(res.reason);
    }
  } finally {
    await t.done();
  }
});
