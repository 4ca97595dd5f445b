/**
 * The parts of the ledger only some runs use: the PostgreSQL ledger (with a `postgres://` db),
 * the offline verifiers and the live-log monitor (`iatp audit verify`), and the HTTP routes with
 * the credential verifier they build (the first request the service's app serves). Each is
 * imported with its first call by a computed specifier (`lateImport` of core/config), so an idle
 * service on a SQLite ledger neither loads nor parses them (about 0.3 MB of an idle audit service
 * for the first three with the HTTP client the monitor uses).
 * @module
 */
import { lateImport } from "../config/mod.ts";
import type { PostgresHandle } from "../engine/mod.ts";
import { HttpError } from "../errors/mod.ts";
import type { App, ComponentHealth } from "../http/mod.ts";
import type { AuditLog } from "./entry.ts";
import type { MonitorOptions, MonitorReport } from "./monitor.ts";
import type { PgLedger, PgLedgerOptions } from "./pg_ledger.ts";
import type { AuditRoutesOptions } from "./routes.ts";
import type { VerifyReport } from "./verify.ts";

type PgLedgerModule = typeof import("./pg_ledger.ts");
type PgVerifyModule = typeof import("./pg_verify.ts");
type VerifyModule = typeof import("./verify.ts");
type MonitorModule = typeof import("./monitor.ts");
type RoutesModule = typeof import("./routes.ts");

/**
 * Registers the ledger's HTTP routes on a service app (routes.ts), loading them and the
 * credential verifier now: core/http runs a registration with the first request its app serves
 * and serves none before every registration is done, so no request reaches a route before its
 * authenticator exists.
 * @throws {HttpError} 503 when the routes cannot be loaded (the request that needed them gets
 * it; nothing is served unchecked)
 */
export async function registerAuditRoutes(
  app: App,
  ledger: AuditLog,
  opts: AuditRoutesOptions,
): Promise<void> {
  let routes: RoutesModule;
  try {
    routes = await lateImport<RoutesModule>("./routes.ts", import.meta.url);
  } catch (err) {
    routesFailed = true;
    throw new HttpError(503, ROUTES_UNAVAILABLE, {}, { cause: err });
  }
  routesFailed = false;
  routes.registerAuditRoutes(app, ledger, opts);
}

const ROUTES_UNAVAILABLE = "the audit routes could not be loaded";
let routesFailed = false;

/**
 * The routes' part of the audit service's `/health`: absent while they are loaded or not yet
 * asked for, and a failing component once a load failed (every route answers 503 then, and Deno
 * keeps a failed import for the life of the process, so the service needs a restart).
 * @example
 * ```ts
 * routesHealth(); // {} until a load fails; then { routes: { ok: false, reason: "..." } }
 * ```
 */
export function routesHealth(): Record<string, ComponentHealth> {
  return routesFailed ? { routes: { ok: false, reason: ROUTES_UNAVAILABLE } } : {};
}

/**
 * Opens the ledger on PostgreSQL ({@linkcode PgLedger.open}).
 * @throws whatever loading the module or {@linkcode PgLedger.open} throws
 */
export async function openPgLedger(opts: PgLedgerOptions): Promise<PgLedger> {
  const { PgLedger } = await lateImport<PgLedgerModule>("./pg_ledger.ts", import.meta.url);
  return await PgLedger.open(opts);
}

/**
 * Verifies the ledger in the database `pg` points at (see pg_verify.ts).
 * @throws the client's error when the server cannot be reached.
 */
export async function verifyLedgerPostgres(
  pg: PostgresHandle,
  opts: { vkey?: string; progress?: () => void } = {},
): Promise<VerifyReport> {
  const m = await lateImport<PgVerifyModule>("./pg_verify.ts", import.meta.url);
  return await m.verifyLedgerPostgres(pg, opts);
}

/** Verifies the ledger at `path`. `vkey` pins the expected signer (default: the stored one). */
export async function verifyLedgerFile(
  path: string,
  opts: { vkey?: string } = {},
): Promise<VerifyReport> {
  const m = await lateImport<VerifyModule>("./verify.ts", import.meta.url);
  return await m.verifyLedgerFile(path, opts);
}

/** Checks a live log against its checkpoints (see monitor.ts). */
export async function checkLiveLog(opts: MonitorOptions): Promise<MonitorReport> {
  const m = await lateImport<MonitorModule>("./monitor.ts", import.meta.url);
  return await m.checkLiveLog(opts);
}
