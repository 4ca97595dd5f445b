/**
 * The sidecar's decision for one request, in the IATP order: privacy blocks first (403), then
 * the low-trust warning (449) unless a valid override approves it, else allow. Pure: the HTTP
 * layer only renders the result.
 * @module
 */
import { isPermanent, type Retention, type Reversibility, WARN_BELOW_SCORE } from "./score.ts";

/** What the detector found in the request. */
export interface Findings {
  creditCard: boolean;
  ssn: boolean;
}

/** The manifest facts a decision needs. */
export interface DecisionContext {
  retention: Retention;
  reversibility: Reversibility;
  humanInLoop: boolean;
  trustScore: number;
  quarantined: boolean;
  /** Named in the warning lines, as the Python sidecar names it. */
  agentId?: string;
}

/** The decision. */
export type TrustDecision =
  | { action: "block"; status: 403; reason: "credit_card" | "ssn"; message: string }
  | { action: "warn"; status: 449; warning: string; trustScore: number }
  | { action: "allow"; overridden: boolean; quarantined: boolean };

/** Decides one request; `overrideValid` is whether X-User-Override approved it. */
export function decideTrust(
  ctx: DecisionContext,
  findings: Findings,
  overrideValid: boolean,
): TrustDecision {
  if (findings.creditCard && isPermanent(ctx.retention)) {
    return {
      action: "block",
      status: 403,
      reason: "credit_card",
      message: "Privacy Violation: Credit card data cannot be sent to agents with " +
        `${ctx.retention} retention`,
    };
  }
  if (findings.ssn && ctx.retention !== "ephemeral") {
    return {
      action: "block",
      status: 403,
      reason: "ssn",
      message: "Privacy Violation: SSN data can only be sent to agents with ephemeral retention",
    };
  }
  const lowTrust = ctx.trustScore < WARN_BELOW_SCORE;
  if (lowTrust && !overrideValid) {
    return { action: "warn", status: 449, warning: warningText(ctx), trustScore: ctx.trustScore };
  }
  return { action: "allow", overridden: lowTrust, quarantined: ctx.quarantined };
}

/**
 * The Go sidecar's warning lines, each followed by the Python sidecar's wording of the same
 * fact, so clients of either show (or match) what they expect.
 *
 * @example
 * ```ts
 * warningText({ retention: "forever", reversibility: "none", humanInLoop: false,
 *   trustScore: 0, quarantined: true, agentId: "a1" });
 * // "⚠️ WARNING:\n  • Low trust score (0/10) for agent 'a1'\n  • No reversibility: agent 'a1'
 * //  does not support transaction reversal\n  • Data stored permanently: agent 'a1' stores
 * //  data indefinitely"
 * ```
 */
function warningText(ctx: DecisionContext): string {
  const agent = `agent '${ctx.agentId ?? "unknown"}'`;
  let text = `⚠️ WARNING:\n  • Low trust score (${ctx.trustScore}/10) for ${agent}`;
  if (ctx.reversibility === "none") {
    text += `\n  • No reversibility: ${agent} does not support transaction reversal`;
  }
  if (isPermanent(ctx.retention)) {
    text += `\n  • Data stored permanently: ${agent} stores data indefinitely`;
  }
  if (ctx.humanInLoop) {
    text += `\n  • Human review enabled: ${agent} may have humans review your data`;
  }
  return text;
}
