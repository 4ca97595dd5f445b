/**
 * What the dashboard's pages use, for callers outside them, imported when asked for: the browser
 * files (about 170 KB of text, uPlot's 145 KB among them) and the audit trail of a transaction
 * with its receipts' proofs. An idle dashboard holds neither (its pages load them with their
 * first request; tests/architecture_test.ts keeps them off its start).
 * @module
 */
import { lateImport } from "../config/mod.ts";
import type { NoteVerifier } from "../ledger/vkey/mod.ts";
import type { AuditView } from "./tx.ts";

/** The modules, by a computed specifier (core/config's `lateImport`). */
type Static = typeof import("./static.ts");
type Tx = typeof import("./tx.ts");

/**
 * The files served under `/static/`, by path: their bodies and content types.
 * @throws {Error} when their module cannot be loaded
 */
export async function staticFiles(): Promise<Static["STATIC_FILES"]> {
  return (await lateImport<Static>("./static.ts", import.meta.url)).STATIC_FILES;
}

/**
 * The audit service's entries for `txId`, each receipt checked (`key` is the pinned checkpoint
 * key, without which a receipt is at best `unpinned`); `not_configured` without an `auditUrl`.
 * @throws {Error} when its module cannot be loaded
 */
export async function loadAuditTrail(
  auditUrl: string | undefined,
  txId: string,
  opts: { timeoutMs: number; key?: NoteVerifier },
): Promise<AuditView> {
  const tx = await lateImport<Tx>("./tx.ts", import.meta.url);
  return await tx.loadAuditTrail(auditUrl, txId, opts);
}
