/**
 * One transaction's audit trail for the dashboard: fetched server-side from the audit service
 * (read-only `GET /tx/{id}`), each receipt verified here with the ledger's own verifier, so the
 * browser shows verified / failed without trusting the audit service's word. Only a receipt whose
 * checkpoint the pinned `audit_public_key` signs is verified: without that key, a receipt whose
 * proof holds is `unpinned` (anyone answering as the audit service can make one). Payloads are masked
 * after verification (the receipt covers the original bytes), and a viewer sees only the entries
 * of topics its grants cover.
 * @module
 */
import { lateImport } from "../config/mod.ts";
import { type NoteVerifier, verifyReceipt } from "../ledger/proof/mod.ts";
import type { Viewer } from "./event.ts";
import { maskPayload, plainText } from "./event.ts";
import { fetchJson } from "./fetch_json.ts";

/** Most audit entries shown for one transaction. */
const MAX_AUDIT_ENTRIES = 200;
/** Largest audit response read. */
const MAX_AUDIT_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * What the check of one receipt found: `verified` (proof and signature by the pinned key),
 * `unpinned` (the proof holds, but no key is pinned, so who signed it is unknown) or `failed`.
 */
export type ReceiptState = "verified" | "unpinned" | "failed";

/** One verified (or not) ledger entry. */
export interface AuditEntryView {
  index: number;
  event: string;
  actor: string;
  ts: string;
  payload: Record<string, unknown>;
  /** True only when `receipt` is `verified`. */
  verified: boolean;
  receipt: ReceiptState;
  reason?: string;
}

/** What the audit section shows. */
export type AuditView =
  | { state: "not_configured" }
  | { state: "unreachable"; error: string }
  | { state: "ok"; entries: AuditEntryView[] };

type EntrySchema = typeof import("./tx_schema.ts").entrySchema;

/** The answer's schemas (zod, about 8 MB idle): imported when a trail is first loaded. */
let schemas: Promise<typeof import("./tx_schema.ts")> | undefined;
const txSchemas = () =>
  schemas ??= lateImport<typeof import("./tx_schema.ts")>("./tx_schema.ts", import.meta.url);

/** An entry as signed: under compat upstream `ts` is float seconds and `ts_iso` the signed time. */
function signedForm(raw: unknown): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return raw;
  const { ts_iso, ledger_id: _id, ...rest } = raw as Record<string, unknown>;
  return typeof ts_iso === "string" ? { ...rest, ts: ts_iso } : raw;
}

/** Fetches and verifies the audit entries of `txId`. Never throws. */
export async function loadAuditTrail(
  auditUrl: string | undefined,
  txId: string,
  opts: { timeoutMs: number; key?: NoteVerifier },
): Promise<AuditView> {
  if (!auditUrl) return { state: "not_configured" };
  const url = `${auditUrl.replace(/\/+$/, "")}/tx/${encodeURIComponent(txId)}`;
  const answer = await fetchJson(url, {
    timeoutMs: opts.timeoutMs,
    maxBytes: MAX_AUDIT_RESPONSE_BYTES,
    okStatuses: [200, 404],
  });
  if (!answer.ok) {
    return { state: "unreachable", error: answer.status ? `audit ${answer.error}` : answer.error };
  }
  if (answer.status === 404) return { state: "ok", entries: [] };
  const body = answer.body;
  const { entrySchema, responseSchema } = await txSchemas();
  const parsed = responseSchema.safeParse(body);
  if (!parsed.success) return { state: "unreachable", error: "audit answered an unexpected shape" };
  const entries: AuditEntryView[] = [];
  for (const raw of parsed.data.entries.slice(0, MAX_AUDIT_ENTRIES)) {
    entries.push(await verifyOne(entrySchema.safeParse(signedForm(raw)), txId, opts.key));
  }
  return { state: "ok", entries };
}

async function verifyOne(
  e: ReturnType<EntrySchema["safeParse"]>,
  txId: string,
  key: NoteVerifier | undefined,
): Promise<AuditEntryView> {
  if (!e.success) {
    return {
      index: -1,
      event: "(malformed entry)",
      actor: "",
      ts: "",
      payload: {},
      verified: false,
      receipt: "failed",
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
    const reason = "entry belongs to another transaction";
    return { ...view, verified: false, receipt: "failed", reason };
  }
  const r = await verifyReceipt(entry, receipt as Parameters<typeof verifyReceipt>[1], { key });
  if (!r.ok) return { ...view, verified: false, receipt: "failed", reason: r.reason };
  if (!key) {
    const reason = "proof ok, key not pinned: set audit_public_key to verify who signed it";
    return { ...view, verified: false, receipt: "unpinned", reason };
  }
  return { ...view, verified: true, receipt: "verified" };
}

/**
 * The relay topic a ledger entry records, for viewer filtering: sidecar decisions (`iatp.*`)
 * come from `iatp.trace`; other entries are named after their topic (`access.decision`).
 */
function topicOfEntry(event: string): string {
  return event.startsWith("iatp.") ? "iatp.trace" : event;
}

/** The part of an audit view `viewer` may see, payloads masked; `hidden` counts the rest. */
export function auditFor(view: AuditView, viewer: Viewer): AuditView & { hidden?: number } {
  if (view.state !== "ok") return view;
  const shown = view.entries.filter((e) => viewer.maySee(topicOfEntry(e.event)));
  const entries = shown.map((e) => ({
    ...e,
    event: plainText(e.event),
    actor: plainText(e.actor),
    payload: maskPayload(e.payload),
  }));
  const hidden = view.entries.length - shown.length;
  return { state: "ok", entries, ...(hidden > 0 ? { hidden } : {}) };
}
