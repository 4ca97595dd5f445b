/**
 * A decision as the policy service answers it, by its `compat` setting. `iatp`: the decision
 * as the engine made it (`explanation` an object, `ts` ISO 8601). `upstream`: the IG&S policy
 * service's types where they differ, `explanation` a sentence and `ts` float seconds, with
 * iatp's forms beside them as `explanation_detail` and `ts_iso`. Also the ledger key of a
 * decision.
 * @module
 */
import { type CompatMode, epochSeconds } from "../compat/mod.ts";
import { sha256Hex } from "../crypto/mod.ts";
import type { Decision } from "./engine.ts";

/** The wire form of `d` under `compat`. */
export function decisionWire(d: Decision, compat: CompatMode): Record<string, unknown> {
  if (compat === "iatp") return { ...d };
  const { explanation, ts, ...rest } = d;
  return {
    ...rest,
    explanation: d.reason ?? (d.decision === "allow" ? "permitted" : "no policy permitted it"),
    explanation_detail: explanation,
    ts: epochSeconds(Date.parse(ts)),
    ts_iso: ts,
  };
}

/** Longest Idempotency-Key the ledger takes. */
const MAX_IDEMPOTENCY_KEY_CHARS = 256;

/**
 * The relay's `Idempotency-Key` of a decision's publish (visible ASCII, at most 128 characters):
 * the same for every delivery of it, from any replica, so a redelivery within the relay's
 * `duplicate_window` is answered as the first was instead of stored again.
 */
export function decisionRelayKey(txId: string): string {
  return `policy-decision:sha256:${sha256Hex(txId)}`;
}

/**
 * The ledger's idempotency key of a tx_id's decision: `policy-decision:<tx_id>` when an HTTP header
 * can carry that as it is (printable ASCII, within the ledger's 256 characters), else
 * `policy-decision:sha256:<hex of the tx_id>`, so a tx_id in another script, with a line break or
 * of 250 characters still reaches the ledger once.
 * @example
 * ```ts
 * decisionKey("t1"); // "policy-decision:t1"
 * ```
 */
export function decisionKey(txId: string): string {
  const plain = `policy-decision:${txId}`;
  return /^[\x20-\x7e]+$/.test(txId) && plain.length <= MAX_IDEMPOTENCY_KEY_CHARS
    ? plain
    : `policy-decision:sha256:${sha256Hex(txId)}`;
}
