/**
 * One transaction's audit trail for the dashboard: fetched server-side from the audit service
 * (read-only `GET /tx/{id}`), each receipt verified here with the ledger's own verifier, so the
 * browser shows verified / failed without trusting the audit service's word.
 * @module
 */
import { z } from "zod";
import { readBody } from "../http/mod.ts";
import { verifyReceipt } from "../ledger/receipt.ts";

/** Most audit entries shown for one transaction. */
export const MAX_AUDIT_ENTRIES = 200;
/** Largest audit response read. */
export const MAX_AUDIT_RESPONSE_BYTES = 4 * 1024 * 1024;

/** One verified (or not) ledger entry. */
export interface AuditEntryView {
  index: number;
  event: string;
  actor: string;
  ts: string;
  payload: Record<string, unknown>;
  verified: boolean;
  reason?: string;
}

/** What the audit section shows. */
export type AuditView =
  | { state: "not_configured" }
  | { state: "unreachable"; error: string }
  | { state: "ok"; entries: AuditEntryView[] };

const entrySchema = z.object({
  index: z.number().int().nonnegative(),
  tx_id: z.string(),
  event: z.string(),
  actor: z.string(),
  payload: z.record(z.string(), z.unknown()),
  ts: z.string(),
  receipt: z.unknown(),
});
const responseSchema = z.object({ entries: z.array(z.unknown()).max(10_000) });

/** Fetches and verifies the audit entries of `txId`. Never throws. */
export async function loadAuditTrail(
  auditUrl: string | undefined,
  txId: string,
  opts: { timeoutMs: number; publicKey?: Uint8Array },
): Promise<AuditView> {
  if (!auditUrl) return { state: "not_configured" };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error("timed out")), opts.timeoutMs);
  let body: unknown;
  try {
    const res = await fetch(`${auditUrl.replace(/\/+$/, "")}/tx/${encodeURIComponent(txId)}`, {
      signal: ac.signal,
      headers: { accept: "application/json" },
    });
    if (res.status === 404) {
      await res.body?.cancel();
      return { state: "ok", entries: [] };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      return { state: "unreachable", error: `audit answered ${res.status}` };
    }
    const bytes = await readBody(res, { limit: MAX_AUDIT_RESPONSE_BYTES });
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    return { state: "unreachable", error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
  const parsed = responseSchema.safeParse(body);
  if (!parsed.success) return { state: "unreachable", error: "audit answered an unexpected shape" };
  const entries: AuditEntryView[] = [];
  for (const raw of parsed.data.entries.slice(0, MAX_AUDIT_ENTRIES)) {
    entries.push(await verifyOne(raw, txId, opts.publicKey));
  }
  return { state: "ok", entries };
}

async function verifyOne(
  raw: unknown,
  txId: string,
  publicKey: Uint8Array | undefined,
): Promise<AuditEntryView> {
  const e = entrySchema.safeParse(raw);
  if (!e.success) {
    return {
      index: -1,
      event: "(malformed entry)",
      actor: "",
      ts: "",
      payload: {},
      verified: false,
      reason: "entry does not match the ledger schema",
    };
  }
  const { receipt, ...entry } = e.data;
  const view = {
    index: entry.index,
    event: entry.event,
    actor: entry.actor,
    ts: entry.ts,
    payload: entry.payload,
  };
  if (entry.tx_id !== txId) {
    return { ...view, verified: false, reason: "entry belongs to another transaction" };
  }
  const r = await verifyReceipt(entry, receipt as Parameters<typeof verifyReceipt>[1], {
    publicKey,
  });
  return { ...view, verified: r.ok, ...(r.reason ? { reason: r.reason } : {}) };
}
