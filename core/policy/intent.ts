/**
 * The access intent (the IG&S mesh wire shape) and its mapping to a Cedar request:
 * principal `Subject::"<subject.id>"` {enterprise, roles}, action `Action::"<resource.scope>"`,
 * resource `Resource::"<resource.id>"` {enterprise}, context = intent.context.
 *
 * Two readings, by the policy service's `compat` setting. `iatp`: missing fields stay missing
 * (Cedar then finds no permit: deny); wrong types are refused. `upstream` (the IG&S policy
 * service's): `subject`, `resource` and `context` are required objects, `tx_id` may be null,
 * `session_risk` may be any number or a boolean (compared as Python does: `true` is 1), and
 * context values Cedar cannot hold (fractions, nulls, deeper nesting, and the keys `__entity`,
 * `__extn` and `__expr`, which Cedar reads as escapes) are kept out of the Cedar request only. Cedar's `Long` has no fraction: a fractional risk reaches the policy rounded
 * down, which decides `< N` and `>= N` against a whole `N` exactly as the fraction would.
 * @module
 */
import type { z } from "zod";
import type { intentSchema } from "./intent_schema.ts";
import { lateImport } from "../config/mod.ts";

/** Longest id, enterprise or role string accepted. */
export const MAX_INTENT_STRING = 256;

/** A validated intent. */
export type Intent = z.infer<typeof intentSchema>;

/** An intent the engine can decide, and the session risk as sent (fraction kept, or none). */
export interface ParsedIntent {
  intent: Intent;
  risk: number | undefined;
}

/** A `session_risk` the IG&S policy service cannot compare (it fails on it): a string, null, ... */
export class SessionRiskError extends Error {
  override name = "SessionRiskError";
}

/**
 * Reads an intent under `compat`.
 * @throws {SessionRiskError} (upstream) for a `session_risk` that is no number or boolean.
 * @throws {ZodError} for anything else of the wrong shape.
 */
export type IntentReader = (raw: unknown, compat: "upstream" | "iatp") => ParsedIntent;

let reader: Promise<IntentReader> | undefined;

/**
 * The intent reader. Its schemas are built on zod (several MB of a process), imported with the
 * first intent rather than at start.
 * @example
 * ```ts
 * const read = await loadIntentReader();
 * const { intent } = read({ subject: { id: "agent-1" } }, "iatp");
 * ```
 */
export function loadIntentReader(): Promise<IntentReader> {
  // By a computed specifier: a string literal would have Deno read zod's registry data (about
  // 0.7 MB) while it builds the start graph.
  return reader ??= lateImport<typeof import("./intent_schema.ts")>(
    "./intent_schema.ts",
    import.meta.url,
  ).then((m) => m.parseIntent);
}

/** Cedar entity uid. */
export interface EntityUid {
  type: string;
  id: string;
}

/** A Cedar request in cedar-wasm's JSON form. */
export interface CedarRequest {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, unknown>;
  entities: Array<{ uid: EntityUid; attrs: Record<string, unknown>; parents: EntityUid[] }>;
}

/** Entity type names of the mapping. */
const SUBJECT_TYPE = "Subject";
/** Entity type of resources. */
const RESOURCE_TYPE = "Resource";
/** Entity type of actions (one per scope). */
const ACTION_TYPE = "Action";

function defined(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in obj) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

/** Maps an intent to a Cedar request (see the module doc for the mapping). */
export function toCedarRequest(intent: Intent): CedarRequest {
  const principal = { type: SUBJECT_TYPE, id: intent.subject?.id ?? "" };
  const resource = { type: RESOURCE_TYPE, id: intent.resource?.id ?? "" };
  return {
    principal,
    // An intent without a scope maps to an action no policy names, so it is denied.
    action: { type: ACTION_TYPE, id: intent.resource?.scope ?? "" },
    resource,
    context: defined(intent.context ?? {}),
    entities: [
      {
        uid: principal,
        attrs: defined({ enterprise: intent.subject?.enterprise, roles: intent.subject?.roles }),
        parents: [],
      },
      { uid: resource, attrs: defined({ enterprise: intent.resource?.enterprise }), parents: [] },
    ],
  };
}
