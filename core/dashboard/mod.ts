/**
 * The dashboard: a read-only console of the mesh (overview, events, transactions with their
 * ledger receipts, service health), its login, sessions and per-viewer scopes, the relay feed
 * it replays and streams, and its static files, served under a strict CSP.
 *
 * @example
 * ```ts
 * const svc = await startDashboardServer({ host: "127.0.0.1", port: 0, log, ...options });
 * await svc.close();
 * ```
 * @module
 */
export { DEFAULT_LOGIN_RATE_PER_MIN } from "./auth.ts";
export {
  DEFAULT_HISTORY,
  DEFAULT_HISTORY_BYTES,
  DEFAULT_RESPONSE_BYTES,
  DEFAULT_TOPICS,
} from "./feed.ts";
export { DEFAULT_VIEWER_CLASSES } from "./held.ts";
export { MAX_WATCHED_SERVICES, parseServiceTargets, type ServiceTarget } from "./health.ts";
export { type DashboardOptions, startDashboardServer } from "./server.ts";
export {
  DEFAULT_MAX_SESSIONS,
  DEFAULT_MAX_VIEWER_SESSIONS,
  DEFAULT_SESSION_TTL_MS,
} from "./session.ts";
export { loadAuditTrail, staticFiles } from "./on_demand.ts";
export type { AuditEntryView, AuditView } from "./tx.ts";
