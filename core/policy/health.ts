/** The policy service's `/health` body: `degraded` while its decision loop is stuck. @module */
import { type ComponentHealth, serviceHealth } from "../http/mod.ts";
import type { EngineTrap } from "./engine.ts";

/** What the reloader reports about the bundle files on disk (its `last_error`). */
export type BundleProblem =
  | { message: string; at: string; ref: string; file?: string; line?: number }
  | null;

/**
 * The policy service's `/health`: `ok`, or `degraded` with why its decision loop cannot decide
 * intents (the state store refusing a decision, the relay subscription down or failed, the shared
 * queue unreadable), why decisions are not delivered (component `delivery` of the loop; `audit`
 * while the ledger appends of `POST /evaluate` are held) or why the bundle on disk is not the one in force (a rejected change, an
 * unreadable folder: component `bundle`, the last good set still deciding) or why Cedar cannot
 * decide (its WebAssembly trapped on the latest decision: component `engine`), plus the loaded
 * bundle's reference.
 * @example
 * ```ts
 * policyHealth(undefined, "sha256:ab12").status; // "ok"
 * ```
 */
export function policyHealth(
  loop: { health(): Record<string, ComponentHealth> } | undefined,
  policyRef: string,
  bundleProblem: BundleProblem = null,
  engineTrap?: EngineTrap,
  audit?: {
    readonly held: { reason: string; since: string } | undefined;
    readonly refused?: string | undefined;
    readonly pending: number;
  },
): Record<string, unknown> {
  const components: Record<string, ComponentHealth> = { ...loop?.health() };
  const held = audit?.held;
  if (held !== undefined) {
    components.audit = {
      ok: false,
      reason: `decisions of POST /evaluate wait for the ledger: ${held.reason}`,
      pending: audit!.pending,
      since: held.since,
    };
  } else if (audit?.refused !== undefined) {
    // Until the ledger takes one: a credential without `audit:append:policy`, say.
    components.audit = {
      ok: false,
      reason: "the latest decision of POST /evaluate was refused by the ledger and dropped: " +
        audit.refused,
      pending: audit.pending,
    };
  }
  if (engineTrap !== undefined) {
    components.engine = {
      ok: false,
      reason: `Cedar failed on the latest decision (${engineTrap.message}); decisions are ` +
        "denied until it decides again, which a restart of the service brings back",
      since: engineTrap.since,
    };
  }
  if (bundleProblem !== null) {
    // Where, not what: the message (which may quote rules) is on the guarded GET /policies.
    const { file, line, ref, at } = bundleProblem;
    const where = file === undefined ? "" : line === undefined ? `${file}: ` : `${file}:${line}: `;
    components.bundle = {
      ok: false,
      reason: ref === "unreadable"
        ? `${where}the policy folder cannot be read; serving ${policyRef}`
        : `${where}the change on disk was rejected; serving ${policyRef}`,
      ...(file === undefined ? {} : { file }),
      ...(line === undefined ? {} : { line }),
      since: at,
    };
  }
  return serviceHealth("policy", components, { policy_ref: policyRef });
}
