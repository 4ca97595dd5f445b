/**
 * The audit service's HTTP client, apart from the ledger itself so that a service that only
 * appends (sidecar, policy, agents) does not load the ledger, its stores and its routes: appends
 * with retries and an idempotency key, and the wire shapes of an append's answer.
 *
 * @example
 * ```ts
 * const audit = new AuditClient({ url: "http://127.0.0.1:8003" });
 * const { index, receipt } = await audit.append({ tx_id: "t1", event: "e", actor: "a" });
 * ```
 * @module
 */
export {
  type AuditAppendResponse,
  AuditClient,
  AuditClientError,
  type AuditEntryInput,
} from "./client.ts";
export type { Receipt } from "../proof/mod.ts";
