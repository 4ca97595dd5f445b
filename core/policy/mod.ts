/**
 * Policy decisions: Cedar policy bundles (load, hash, hot reload), pre-parsed evaluation with
 * obligations and risk from annotations, decision reasons, the access-intent schema, the
 * decided-intent state, and the bridge that decides every intent published on the relay and
 * records it in the audit ledger.
 *
 * @example
 * ```ts
 * const engine = new PolicyEngine(await loadBundle("policies/"));
 * const read = await loadIntentReader();
 * const decision = engine.evaluate(read(body, "iatp").intent);
 * ```
 * @module
 */
export { type BridgeOptions, DecisionBridge } from "./bridge.ts";
export type { SharedBridgeOptions, SharedDecisionBridge } from "./shared_bridge.ts";
export { createSharedBridge } from "./shared_open.ts";
export {
  type Bundle,
  type BundleLimits,
  DEFAULT_MAX_POLICIES,
  loadBundle,
  type LoadedPolicy,
  PolicyBundleError,
} from "./bundle.ts";
export { type Decision, PolicyEngine } from "./engine.ts";
export { policyHealth } from "./health.ts";
export {
  type CedarRequest,
  type EntityUid,
  type Intent,
  type IntentReader,
  loadIntentReader,
  type ParsedIntent,
  toCedarRequest,
} from "./intent.ts";
export { DEFAULT_RELOAD_INTERVAL_MS, PolicyReloader, type ReloadStatus } from "./reload.ts";
export { type PolicyRoutesDeps, registerPolicyRoutes, UPSTREAM_MISSING_RISK } from "./routes.ts";
export type { DecisionState } from "./state.ts";
export { DEFAULT_MAX_DECIDED, openDecisionState } from "./state_open.ts";
