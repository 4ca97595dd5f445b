/**
 * The access intent's schemas (zod) and the reading of an intent under the `compat` setting (see
 * intent.ts for the two readings). Imported with the first intent (`loadIntentReader`), not at
 * start.
 * @module
 */
import { z } from "zod";
import { type Intent, MAX_INTENT_STRING, type ParsedIntent, SessionRiskError } from "./intent.ts";

/** Most roles per subject. */
const MAX_ROLES = 64;
/** Most context keys. */
const MAX_CONTEXT_KEYS = 64;
/**
 * Context keys Cedar's JSON reads as escapes, not as data: the context `{"__extn": {...}}` is
 * read as an extension value, `{"__entity": {...}}` as an entity reference, and neither is a
 * record, so no policy could be evaluated. The same keys inside a context map are refused too:
 * Cedar refuses a map holding `__expr` ("the `__expr` escape is no longer supported"), which made
 * a decision of deny with an error, not a 400 naming the key.
 */
const CEDAR_ESCAPES = new Set(["__entity", "__extn", "__expr"]);

/** A context map (not a list) without its keys Cedar reads as escapes. */
function withoutEscapes(v: unknown): unknown {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
  if (!Object.keys(v).some((k) => CEDAR_ESCAPES.has(k))) return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => !CEDAR_ESCAPES.has(k)));
}

/** Most entries of a context value that is a list or a map. */
const MAX_CONTEXT_ENTRIES = 64;

const text = z.string().max(MAX_INTENT_STRING);
// Cedar has no floats or nulls; values nest at most one level so validation never recurses deeply.
// A list or a map holds at most 64 entries: Cedar reads every entry with each decision (a map of
// 120,000 keys in a 1 MiB body held the service for two seconds).
const scalar = z.union([text, z.boolean(), z.number().int().safe()]);
const contextValue = z.union([
  scalar,
  z.array(scalar).refine((l) => l.length <= MAX_CONTEXT_ENTRIES, {
    message: `a context list holds at most ${MAX_CONTEXT_ENTRIES} entries`,
  }),
  z.record(z.string().max(MAX_INTENT_STRING), scalar).refine(
    (m) => Object.keys(m).length <= MAX_CONTEXT_ENTRIES,
    { message: `a context map holds at most ${MAX_CONTEXT_ENTRIES} keys` },
  ),
]);

/** The intent's schema with `risk` as the session risk's rule. */
function intentWith(risk: z.ZodNumber) {
  return z.object({
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
      session_risk: risk.optional(),
      device: text.optional(),
      geo: text.optional(),
    }).catchall(contextValue).refine((c) => Object.keys(c).length <= MAX_CONTEXT_KEYS, {
      message: `at most ${MAX_CONTEXT_KEYS} context keys`,
    }).superRefine((c, ctx) => {
      for (const [k, v] of Object.entries(c)) {
        if (CEDAR_ESCAPES.has(k)) {
          ctx.addIssue({
            code: "custom",
            path: [k],
            message: `Cedar reads a context key ${k} as an escape, not as data: rename it`,
          });
        } else if (typeof v === "object" && v !== null && !Array.isArray(v)) {
          for (const n of Object.keys(v)) {
            if (!CEDAR_ESCAPES.has(n)) continue;
            ctx.addIssue({
              code: "custom",
              path: [k, n],
              message: `Cedar reads a context key ${k}.${n} as an escape, not as data: rename it`,
            });
          }
        }
      }
    }).optional(),
  });
}

/** The intent schema (`POST /evaluate`, topic `access.intent`) under `compat: iatp`. */
export const intentSchema = intentWith(z.number().int().min(0).safe());
/** The same, for an IG&S intent once read (a negative risk is one Python compares). */
export const upstreamCedarSchema = intentWith(z.number().int().safe());

/** The IG&S intent's shape (`apps/policy/main.py` `Intent`): three required objects. */
export const upstreamSchema = z.object({
  tx_id: z.string().nullable().optional(),
  subject: z.record(z.string(), z.unknown()),
  resource: z.record(z.string(), z.unknown()),
  context: z.record(z.string(), z.unknown()),
});

function cedarScalar(v: unknown): boolean {
  return (typeof v === "string" && v.length <= MAX_INTENT_STRING) || typeof v === "boolean" ||
    (typeof v === "number" && Number.isSafeInteger(v));
}

/** `v` when iatp's context schema (hence Cedar) can hold it, else undefined. */
function cedarSafe(v: unknown): unknown {
  if (cedarScalar(v)) return v;
  if (Array.isArray(v)) {
    return v.length <= MAX_CONTEXT_ENTRIES && v.every(cedarScalar) ? v : undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (cedarScalar(x)) out[k] = x;
  return Object.keys(out).length <= MAX_CONTEXT_ENTRIES ? out : undefined;
}

/** The risk a Cedar `Long` can carry: rounded down, within the safe integer range. */
function cedarRisk(risk: number): number {
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(Number.MIN_SAFE_INTEGER, Math.floor(risk)));
}

/** Own properties a JSON reader made: a plain object with `Object.prototype`, no `__proto__` key. */
function jsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype &&
    !Object.hasOwn(v, "__proto__");
}

function textOrAbsent(v: unknown): boolean {
  return v === undefined || (typeof v === "string" && v.length <= MAX_INTENT_STRING);
}

/** Marks a field of the wrong shape in {@linkcode quickIntent}. */
const WRONG = Symbol("wrong");

/**
 * The named string fields of `o` (present ones only, in `keys`' order), or WRONG when one is
 * not a string the schema takes or is present as `undefined`.
 */
function textFields(
  o: Record<string, unknown>,
  keys: readonly string[],
  out: Record<string, unknown>,
): Record<string, unknown> | typeof WRONG {
  for (const k of keys) {
    const v = o[k];
    if (!textOrAbsent(v) || (v === undefined && Object.hasOwn(o, k))) return WRONG;
    if (v !== undefined) out[k] = v;
  }
  return out;
}

const SUBJECT_TEXT = ["enterprise", "id"] as const;
const RESOURCE_TEXT = ["enterprise", "id", "scope"] as const;
const CONTEXT_TEXT = ["device", "geo"] as const;

/**
 * What `intentWith(...).parse(raw)` returns for an intent of the plain, common shape (JSON
 * objects; context values strings, booleans or safe integers; no escape keys), built without zod's
 * per-field result objects; undefined for anything else, which zod then reads (and refuses with
 * its issues when it must). Keys in the order zod gives them: the schema's, then the context's
 * others as sent.
 */
export function quickIntent(raw: unknown, minRisk: number): Intent | undefined {
  if (!jsonObject(raw)) return undefined;
  const out: Record<string, unknown> = {};
  const { tx_id: tx, subject: s, resource: r, context: c } = raw;
  if (tx !== undefined) {
    if (typeof tx !== "string" || tx.length < 1 || tx.length > MAX_INTENT_STRING) return undefined;
    out.tx_id = tx;
  } else if (Object.hasOwn(raw, "tx_id")) return undefined;
  if (s !== undefined) {
    if (!jsonObject(s)) return undefined;
    const subject = textFields(s, SUBJECT_TEXT, {});
    if (subject === WRONG) return undefined;
    const roles = s.roles;
    if (roles !== undefined) {
      if (!Array.isArray(roles) || roles.length > MAX_ROLES) return undefined;
      const copy: string[] = [];
      for (const role of roles) {
        if (typeof role !== "string" || role.length > MAX_INTENT_STRING) return undefined;
        copy.push(role);
      }
      subject.roles = copy;
    } else if (Object.hasOwn(s, "roles")) return undefined;
    out.subject = subject;
  } else if (Object.hasOwn(raw, "subject")) return undefined;
  if (r !== undefined) {
    if (!jsonObject(r)) return undefined;
    const resource = textFields(r, RESOURCE_TEXT, {});
    if (resource === WRONG) return undefined;
    out.resource = resource;
  } else if (Object.hasOwn(raw, "resource")) return undefined;
  if (c !== undefined) {
    if (!jsonObject(c)) return undefined;
    const context: Record<string, unknown> = {};
    const risk = c.session_risk;
    if (risk !== undefined) {
      if (!Number.isSafeInteger(risk) || (risk as number) < minRisk) return undefined;
      context.session_risk = risk;
    } else if (Object.hasOwn(c, "session_risk")) return undefined;
    if (textFields(c, CONTEXT_TEXT, context) === WRONG) return undefined;
    let keys = 0;
    for (const k in c) {
      keys++;
      if (k === "session_risk" || k === "device" || k === "geo") continue;
      const v = c[k];
      if (CEDAR_ESCAPES.has(k) || !cedarScalar(v)) return undefined;
      context[k] = v;
    }
    if (keys > MAX_CONTEXT_KEYS) return undefined;
    out.context = context;
  } else if (Object.hasOwn(raw, "context")) return undefined;
  return out as Intent;
}

/** What `upstreamSchema.parse(raw)` gives for JSON objects of its shape, else undefined (see quickIntent). */
export function quickUpstream(raw: unknown): z.infer<typeof upstreamSchema> | undefined {
  if (!jsonObject(raw)) return undefined;
  const { tx_id, subject, resource, context } = raw;
  if (
    tx_id === undefined ? Object.hasOwn(raw, "tx_id") : tx_id !== null && typeof tx_id !== "string"
  ) {
    return undefined;
  }
  if (!jsonObject(subject) || !jsonObject(resource) || !jsonObject(context)) return undefined;
  return { tx_id: tx_id as string | null | undefined, subject, resource, context };
}

/**
 * Reads an intent under `compat`.
 * @throws {SessionRiskError} (upstream) for a `session_risk` that is no number or boolean.
 * @throws {ZodError} for anything else of the wrong shape.
 */
export function parseIntent(raw: unknown, compat: "upstream" | "iatp"): ParsedIntent {
  if (compat === "iatp") {
    const intent = quickIntent(raw, 0) ?? intentSchema.parse(raw);
    return { intent, risk: intent.context?.session_risk };
  }
  const u = quickUpstream(raw) ?? upstreamSchema.parse(raw);
  const given = u.context.session_risk;
  let risk: number | undefined;
  if (typeof given === "boolean") risk = given ? 1 : 0;
  else if (typeof given === "number") risk = given;
  else if ("session_risk" in u.context) {
    throw new SessionRiskError("context.session_risk must be a number");
  }
  const context: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(u.context)) {
    if (CEDAR_ESCAPES.has(k)) continue;
    const safe = k === "session_risk"
      ? (risk === undefined ? undefined : cedarRisk(risk))
      : cedarSafe(withoutEscapes(v));
    if (safe !== undefined) context[k] = safe;
  }
  const cedarIntent = {
    ...(u.tx_id ? { tx_id: u.tx_id } : {}),
    subject: u.subject,
    resource: u.resource,
    context,
  };
  const intent = quickIntent(cedarIntent, Number.MIN_SAFE_INTEGER) ??
    upstreamCedarSchema.parse(cedarIntent);
  return { intent, risk };
}
