/**
 * The body of `POST /audit` under each `compat` mode (zod), apart from routes.ts so that zod
 * loads with the first append, not at start.
 * @module
 */
import { z } from "zod";

/** Longest tx_id / actor accepted. */
const MAX_ID_CHARS = 256;
/** Longest event name accepted. */
const MAX_EVENT_CHARS = 128;

/**
 * The body of `POST /audit`. Strict: a member the entry has no place for is refused, never
 * dropped from what gets signed.
 */
export const appendSchema = z.strictObject({
  tx_id: z.string().min(1).max(MAX_ID_CHARS),
  event: z.string().min(1).max(MAX_EVENT_CHARS),
  actor: z.string().min(1).max(MAX_ID_CHARS),
  payload: z.record(z.string(), z.unknown()).default({}),
});

/** The IG&S `AuditEvent`: every member required, empty strings allowed. */
export const upstreamAppendSchema = z.strictObject({
  tx_id: z.string().max(MAX_ID_CHARS),
  event: z.string().max(MAX_EVENT_CHARS),
  actor: z.string().max(MAX_ID_CHARS),
  payload: z.record(z.string(), z.unknown()),
});
