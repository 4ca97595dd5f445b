/**
 * The access intent (the IG&S mesh wire shape) and its mapping to a Cedar request:
 * principal `Subject::"<subject.id>"` {enterprise, roles}, action `Action::"<resource.scope>"`,
 * resource `Resource::"<resource.id>"` {enterprise}, context = intent.context.
 * Missing fields stay missing (Cedar then finds no permit: deny); wrong types are a 400.
 * @module
 */
import { z } from "zod";

/** Longest id, enterprise or role string accepted. */
export const MAX_INTENT_STRING = 256;
/** Most roles per subject. */
export const MAX_ROLES = 64;
/** Most context keys. */
export const MAX_CONTEXT_KEYS = 64;

const text = z.string().max(MAX_INTENT_STRING);
// Cedar has no floats or nulls; values nest at most one level so validation never recurses deeply.
const scalar = z.union([text, z.boolean(), z.number().int().safe()]);
const contextValue = z.union([
  scalar,
  z.array(scalar).max(MAX_ROLES),
  z.record(z.string().max(MAX_INTENT_STRING), scalar),
]);

/** The intent schema (`POST /evaluate`, topic `access.intent`). */
export const intentSchema = z.object({
  tx_id: z.string().min(1).max(MAX_INTENT_STRING).optional(),
  subject: z.object({
    enterprise: text.optional(),
    id: text.optional(),
    roles: z.array(text).max(MAX_ROLES).optional(),
  }).optional(),
  resource: z.object({
    enterprise: text.optional(),
    id: text.optional(),
    scope: text.optional(),
  }).optional(),
  context: z.object({
    session_risk: z.number().int().min(0).safe().optional(),
    device: text.optional(),
    geo: text.optional(),
  }).catchall(contextValue).refine((c) => Object.keys(c).length <= MAX_CONTEXT_KEYS, {
    message: `at most ${MAX_CONTEXT_KEYS} context keys`,
  }).optional(),
});

/** A validated intent. */
export type Intent = z.infer<typeof intentSchema>;

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
export const SUBJECT_TYPE = "Subject";
/** Entity type of resources. */
export const RESOURCE_TYPE = "Resource";
/** Entity type of actions (one per scope). */
export const ACTION_TYPE = "Action";

function defined(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
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
