/** The policy service's `/health` body: `degraded` while its decision loop is stuck. @module */
import { type ComponentHealth, serviceHealth } from "../http/mod.ts";

/**
 * The policy service's `/health`: `ok`, or `degraded` with why its decision loop cannot decide
 * intents (the state store refusing a decision, the relay subscription down or failed, the shared
 * queue unreadable), plus the loaded bundle's reference. Without a loop (no relay) only the
 * bundle counts, and it is always loaded.
 * @example
 * ```ts
 * policyHealth(undefined, "sha256:ab12").status; // "ok"
 * ```
 */
export function policyHealth(
  loop: { health(): Record<string, ComponentHealth> } | undefined,
  policyRef: string,
): Record<string, unknown> {
  return serviceHealth("policy", loop?.health() ?? {}, { policy_ref: policyRef });
}
