import assert from "node:assert/strict";
import { generateKeyPair, importSeed } from "../../../core/crypto/mod.ts";
import { LedgerKey } from "../../../core/ledger/keys.ts";
import type { LedgerEntry } from "../../../core/ledger/entry.ts";
import {
  IdempotencyConflictError,
  Ledger,
  LedgerBusyError,
  LedgerCorruptError,
} from "../../../core/ledger/ledger.ts";
import {
  formatCheckpoint,
  formatVkey,
  parseHash,
  parseVkey,
  signNote,
  verifyReceipt,
} from "../../../core/ledger/proof/mod.ts";
import { LedgerStore } from "../../../core/ledger/store.ts";
import { decodeBase64 } from "../../../core/encoding/mod.ts";
import { tempDir } from "../../helpers.ts";
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
      const ok = await verifyReceipt(e, r.receipt, { key: parseVkey(t.ledger.vkey) });
      assert.ok(ok.ok, ok.reason);
    }
    const e0 = t.ledger.entry(results[0].index)!;
    const forged: LedgerEntry = { ...e0, payload: { ...e0.payload, ok: "forged" } };
    assert.ok(!(await refVerifyReceipt(forged, results[0].receipt, t.ledger.vkey)));
    const key = parseVkey(t.ledger.vkey)!;
    const bad = await verifyReceipt(forged, results[0].receipt, { key });
    assert.equal(bad.ok, false);
    const other = await generateKeyPair();
    const wrongKey = await verifyReceipt(e0, results[0].receipt, {
      key: { name: key.name, publicRaw: other.publicRaw },
    });
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

/** A random 32-byte seed. */
const newSeed = () => crypto.getRandomValues(new Uint8Array(32));

Deno.test("a restart with the log's key derives its pair only with the first signature", async () => {
  const dir = await tempDir("iatp-ledger-");
  const path = `${dir.path}/audit.db`;
  const seed = newSeed();
  try {
    const first = new LedgerKey(seed);
    const made = await Ledger.open({ store: new LedgerStore(path), key: first });
    assert.ok(first.derived, "a first start derives the pair: the log stores its vkey");
    await Promise.all([0, 1, 2].map((i) => made.append(input(i))));
    const vkey = made.vkey;
    await made.close();

    const again = new LedgerKey(seed);
    const reopened = await Ledger.open({ store: new LedgerStore(path), key: again });
    assert.equal(again.derived, false);
    assert.equal(reopened.vkey, vkey);
    assert.equal(reopened.size, 3);
    assert.equal((await reopened.signedCheckpoint()).tree_size, 3);
    assert.equal(again.derived, false, "serving the stored checkpoint signs nothing");
    const r = await reopened.append(input(3));
    assert.ok(again.derived);
    const publicRaw = (await importSeed(seed)).publicRaw;
    const key = { name: parseVkey(vkey)!.name, publicRaw };
    assert.ok((await verifyReceipt(reopened.entry(3)!, r.receipt, { key })).ok);
    await reopened.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("a restart with a different or damaged seed is refused, checked or not", async () => {
  const dir = await tempDir("iatp-ledger-");
  const path = `${dir.path}/audit.db`;
  const seed = newSeed();
  try {
    const made = await Ledger.open({ store: new LedgerStore(path), key: new LedgerKey(seed) });
    await made.append(input(0));
    await made.close();
    const damaged = seed.slice();
    damaged[17] ^= 0x01;
    for (const wrong of [damaged, newSeed()]) {
      const key = new LedgerKey(wrong);
      const store = new LedgerStore(path);
      await assert.rejects(
        async () => await Ledger.open({ store, key }),
        (e: Error) => e instanceof LedgerCorruptError && /configured key differs/.test(e.message),
      );
      assert.ok(key.derived, "a seed whose check the log does not hold is derived and matched");
      store.close();
    }
    // The refused seeds left the log's check alone: its own key still starts without deriving.
    const own = new LedgerKey(seed);
    const reopened = await Ledger.open({ store: new LedgerStore(path), key: own });
    assert.equal(own.derived, false);
    await reopened.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("a restart with the vkey changed by hand is refused, the seed's check kept", async () => {
  const dir = await tempDir("iatp-ledger-");
  const path = `${dir.path}/audit.db`;
  const seed = newSeed();
  try {
    const made = await Ledger.open({ store: new LedgerStore(path), key: new LedgerKey(seed) });
    const first = await made.append(input(0));
    await made.close();
    // Someone with the database swaps the vkey for one of another key (same origin), leaving the
    // seed's check as it was.
    const other = await generateKeyPair();
    const store = new LedgerStore(path);
    const origin = store.getMeta("origin")!;
    store.setMeta("vkey", formatVkey(origin, other.publicRaw));
    store.close();
    const key = new LedgerKey(seed);
    const reopened = new LedgerStore(path);
    let opened: Ledger | undefined;
    try {
      opened = await Ledger.open({ store: reopened, key });
    } catch (e) {
      assert.ok(e instanceof LedgerCorruptError && /configured key differs/.test(e.message));
    }
    if (opened) {
      // Opened: it serves the stored receipts under a vkey that does not check them.
      const served = opened.entry(0)!;
      const key = parseVkey(opened.vkey);
      const ok = (await verifyReceipt(served, served.receipt, { key })).ok;
      await opened.close();
      assert.fail(`opened with a vkey not the log's (its receipt verifies under it: ${ok})`);
    }
    reopened.close();
    assert.ok(first.receipt);
  } finally {
    await dir.remove();
  }
});

Deno.test("a log opened with a key pair before gets its key's check with the next start", async () => {
  const dir = await tempDir("iatp-ledger-");
  const path = `${dir.path}/audit.db`;
  const seed = newSeed();
  try {
    const old = await Ledger.open({ store: new LedgerStore(path), key: await importSeed(seed) });
    await old.append(input(0));
    await old.close();
    for (const expectDerived of [true, false]) {
      const key = new LedgerKey(seed);
      const ledger = await Ledger.open({ store: new LedgerStore(path), key });
      assert.equal(key.derived, expectDerived);
      assert.equal(ledger.size, 1);
      await ledger.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("a seed's check is one-way, fixed per seed and vkey and matched only in full", () => {
  const seed = newSeed();
  const vkey = "iatp-audit/x+0a1b2c3d+AQID";
  const check = new LedgerKey(seed).check(vkey);
  assert.match(check, /^[0-9a-f]{64}$/);
  assert.equal(new LedgerKey(seed).check(vkey), check);
  assert.notEqual(new LedgerKey(newSeed()).check(vkey), check);
  assert.notEqual(new LedgerKey(seed).check(vkey + "A"), check, "bound to the vkey");
  const key = new LedgerKey(seed);
  assert.ok(key.matches(check, vkey));
  assert.equal(key.matches(check, "iatp-audit/x+0a1b2c3d+AQIE"), false);
  for (const bad of [undefined, "", check.slice(0, 63), check.slice(0, 63) + "g", "0".repeat(64)]) {
    assert.equal(key.matches(bad, vkey), false);
  }
  assert.throws(() => new LedgerKey(new Uint8Array(31)), RangeError);
});

Deno.test("a key's pair is its seed's, and its check stays once the pair is made", async () => {
  const seed = newSeed();
  const key = new LedgerKey(seed);
  const check = key.check("v");
  const pair = await key.pair();
  assert.deepEqual(pair.publicRaw, (await importSeed(seed)).publicRaw);
  assert.equal(await key.pair(), pair);
  assert.equal(key.check("v"), check);
  assert.ok(key.matches(check, "v"));
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

Deno.test("verifyReceipt with a key refuses a checkpoint it signs for another log (origin line)", async () => {
  const t = await tempLedger();
  try {
    const r = await t.ledger.append(input(0));
    const e = t.ledger.entry(0)!;
    const key = parseVkey(t.ledger.vkey)!;
    assert.ok((await verifyReceipt(e, r.receipt, { key })).ok);
    // The same key, under the same name, signs a checkpoint of the same tree for another log.
    const body = formatCheckpoint({
      origin: "another-log/1",
      treeSize: r.receipt.tree_size,
      rootHash: parseHash(r.receipt.root_hash)!,
    });
    const checkpoint = await signNote(body, { name: key.name, ...t.key });
    const res = await verifyReceipt(e, { ...r.receipt, checkpoint }, { key });
    assert.equal(res.ok, false);
    assert.equal(res.reason, `checkpoint is of another log than ${key.name}`);
    // Without a key only the proof is checked: the same receipt passes (it proves no signer).
    assert.ok((await verifyReceipt(e, { ...r.receipt, checkpoint })).ok);
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
    const key = { name: t.ledger.vkey.split("+")[0], publicRaw: pub };
    assert.ok((await verifyReceipt(e, r.receipt, { key })).ok);
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
