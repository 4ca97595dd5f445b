/** The audit service's `/health` body: `degraded` while its store cannot take appends. @module */
import { type ComponentHealth, serviceHealth } from "../http/mod.ts";
import { Gauge, type Registry } from "../metrics/mod.ts";
import type { AuditLog } from "./entry.ts";
import { routesHealth } from "./on_demand.ts";

/**
 * The audit service's `/health`: `ok`, or `degraded` with the store's reason (a commit it could
 * not write, a PostgreSQL server out of reach) or routes that could not be loaded, plus the tree
 * size this replica knows.
 * @example
 * ```ts
 * auditHealth(ledger); // { status: "ok", service: "audit", tree_size: 4, components: {...} }
 * ```
 */
export function auditHealth(
  ledger: AuditLog,
  relay?: { publishHealth(): ComponentHealth },
): Record<string, unknown> {
  const store = ledger.storeHealth();
  // `audit.appended` events held for a relay that does not take them, or refused and dropped.
  const published: Record<string, ComponentHealth> = relay ? { relay: relay.publishHealth() } : {};
  return serviceHealth("audit", { store: { ...store }, ...routesHealth(), ...published }, {
    tree_size: ledger.size,
  });
}

/**
 * Registers `iatp_audit_store_ok`: 1 while `/health`'s store component is ok, 0 while the store
 * cannot take appends (PostgreSQL out of reach, a commit it could not write).
 */
export function registerLedgerMetrics(registry: Registry, ledger: AuditLog): void {
  new Gauge({
    name: "iatp_audit_store_ok",
    help: "1 while the ledger's store takes appends (/health's store component is ok); 0 while " +
      "it is out of reach or could not write the last commit.",
    registers: [registry],
    collect() {
      this.set(ledger.storeHealth().ok ? 1 : 0);
    },
  });
}
