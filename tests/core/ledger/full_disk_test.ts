/**
 * A ledger whose disk fills up: appends are refused as busy (503 at the route, retry later) with
 * the store's reason, nothing half-written, and `/health` is degraded with that reason; once
 * there is room the log continues where it was (`/health` ok again) and every receipt verifies
 * with the independent RFC 6962 reference. Needs root (a tmpfs).
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../../core/crypto/mod.ts";
import { auditHealth } from "../../../core/ledger/health.ts";
import { Ledger, LedgerBusyError } from "../../../core/ledger/ledger.ts";
import { LedgerStore } from "../../../core/ledger/store.ts";
import { tempDir } from "../../helpers.ts";
import { canMountTmpfs, fill, mountTmpfs } from "../../support/tmpfs.ts";
import { input } from "./ledger_helpers.ts";
import { refVerifyReceipt } from "./rfc6962_reference.ts";

Deno.test({
  name: "a full disk refuses appends as busy with the reason; with room again the log continues",
  ignore: !canMountTmpfs(),
}, async () => {
  const dir = await tempDir("iatp-ledger-full-");
  const fs = mountTmpfs(dir.path, "2m");
  const key = await generateKeyPair();
  const ledger = await Ledger.open({ store: new LedgerStore(`${dir.path}/audit.db`), key });
  try {
    const first = await ledger.append(input(0));
    const filler = await fill(dir.path);
    await assert.rejects(
      ledger.append(input(1, "x".repeat(4096))),
      (e: unknown) =>
        e instanceof LedgerBusyError &&
        e.message === "ledger cannot write: database or disk is full",
    );
    assert.equal(ledger.size, 1, "nothing counted that was not written");
    const degraded = auditHealth(ledger);
    assert.equal(degraded.status, "degraded");
    assert.equal(degraded.reason, "store: ledger cannot write: database or disk is full");
    await Deno.remove(filler);
    const next = await ledger.append(input(2));
    assert.equal(auditHealth(ledger).status, "ok", "ok again once a commit is written");
    assert.equal(next.index, 1);
    for (const r of [first, next]) {
      assert.ok(await refVerifyReceipt(ledger.entry(r.index)!, r.receipt, ledger.vkey));
    }
  } finally {
    await ledger.close().catch(() => {});
    fs.unmount();
    await dir.remove();
  }
});
