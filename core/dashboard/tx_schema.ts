/**
 * The audit service's `GET /tx/{id}` answer as the dashboard reads it (zod), apart from tx.ts so
 * that zod loads with the first trail shown, not at start.
 * @module
 */
import { z } from "zod";

/** One ledger entry with its receipt (checked by verifyReceipt). */
export const entrySchema = z.object({
  index: z.number().int().nonnegative(),
  tx_id: z.string(),
  event: z.string(),
  actor: z.string(),
  payload: z.record(z.string(), z.unknown()),
  ts: z.string(),
  receipt: z.unknown(),
});
/** A ledger under compat iatp answers {tx_id, entries}; under compat upstream, the list itself. */
export const responseSchema = z.union([
  z.object({ entries: z.array(z.unknown()).max(10_000) }),
  z.array(z.unknown()).max(10_000).transform((entries) => ({ entries })),
]);
