/**
 * A decision as the policy service answers it, by its `compat` setting. `iatp`: the decision
 * as the engine made it (`explanation` an object, `ts` ISO 8601). `upstream`: the IG&S policy
 * service's types where they differ, `explanation` a sentence and `ts` float seconds, with
 * iatp's forms beside them as `explanation_detail` and `ts_iso`.
 * @module
 */
import { type CompatMode, epochSeconds } from "../compat/mod.ts";
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
