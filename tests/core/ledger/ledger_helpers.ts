/** Test helpers: a ledger on a fresh temp SQLite file. @module */
import { type Ed25519KeyPair, generateKeyPair } from "../../../core/crypto/mod.ts";
import { Ledger, type LedgerOptions } from "../../../core/ledger/ledger.ts";
import { LedgerStore } from "../../../core/ledger/store.ts";
import { tempDir } from "../../helpers.ts";

/** Opens a ledger in a temp dir (with a key pair); `done()` closes it and removes the dir. */
export async function tempLedger(
  opts: Partial<Omit<LedgerOptions, "key">> & { key?: Ed25519KeyPair } = {},
) {
  const dir = await tempDir("iatp-ledger-");
  const path = `${dir.path}/audit.db`;
  const key = opts.key ?? await generateKeyPair();
  const ledger = await Ledger.open({ store: new LedgerStore(path), key, ...opts });
  return {
    ledger,
    path,
    key,
    dir,
    async done() {
      await ledger.close().catch(() => {});
      await dir.remove();
    },
  };
}

/** An entry input numbered `i`. */
export function input(i: number, tx = `tx-${i}`) {
  return { tx_id: tx, event: "access.decision", actor: "policy", payload: { i, ok: i % 2 === 0 } };
}
