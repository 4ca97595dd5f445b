/** The `/health` status every service and agent reports: `ok`, or `degraded` with a reason. @module */

/** A component's health: `ok` plus whatever detail helps an operator. */
export type ComponentHealth = { ok: boolean; configured?: boolean } & Record<string, unknown>;

/** Longest `reason` of a degraded health body. */
export const MAX_HEALTH_REASON_CHARS = 240;

/**
 * The overall status of `components`: `ok` when every configured one is ok, else `degraded`
 * with a `reason` naming each failing component and what it says (`reason`, else `last_error`).
 * @example
 * ```ts
 * healthStatus({ store: { ok: false, reason: "database or disk is full" } });
 * // { status: "degraded", reason: "store: database or disk is full" }
 * ```
 */
export function healthStatus(
  components: Record<string, ComponentHealth>,
): { status: "ok" } | { status: "degraded"; reason: string } {
  const failing = Object.entries(components).filter(([, c]) => c.configured !== false && !c.ok);
  if (failing.length === 0) return { status: "ok" };
  const reason = failing.map(([name, c]) => {
    const why = typeof c.reason === "string" ? c.reason : c.last_error;
    return typeof why === "string" && why !== "" ? `${name}: ${why}` : name;
  }).join("; ").slice(0, MAX_HEALTH_REASON_CHARS);
  return { status: "degraded", reason };
}

/**
 * A service's `/health` body: its status (see {@linkcode healthStatus}), `service`, the `facts`
 * it adds (tree size, position, ...) and its `components`.
 * @example
 * ```ts
 * serviceHealth("audit", { store: { ok: true } }, { tree_size: 4 }).status; // "ok"
 * ```
 */
export function serviceHealth(
  service: string,
  components: Record<string, ComponentHealth>,
  facts: Record<string, unknown> = {},
): Record<string, unknown> {
  return { ...healthStatus(components), service, ...facts, components };
}
