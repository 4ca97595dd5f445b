/**
 * Cedar decisions for access intents with cedar-wasm's pre-parsed (stateful) evaluation.
 * Obligations and the risk adjustment are read from annotations on the determining permit
 * policies (`@obligation_<name>("value")`, `@risk_delta("-5")`), never from code.
 * A new bundle is pre-parsed into a second slot and swapped in one assignment, so an
 * evaluation always sees one whole bundle.
 * @module
 */
import * as cedar from "@cedar-policy/cedar-wasm";
import type { Bundle, LoadedPolicy } from "./bundle.ts";
import { PolicyBundleError, uidKey } from "./bundle.ts";
import { DecisionExplainer } from "./explain.ts";
import { type CedarRequest, type Intent, toCedarRequest } from "./intent.ts";
import { errorMessage } from "../errors/mod.ts";

/** A policy decision (the `POST /evaluate` response and `access.decision` payload). */
export interface Decision {
  tx_id: string;
  decision: "allow" | "deny";
  obligations: Record<string, string | number | boolean>;
  risk_after: number | null;
  explanation: {
    determining_policies: string[];
    errors: Array<{ policy: string; message: string }>;
  };
  policy_ref: string;
  ts: string;
  /** Why, in a sentence: the permitting or forbidding policy, or the conditions that failed. */
  reason?: string;
}

const OBLIGATION_PREFIX = "obligation_";
let engines = 0;

/** What a permit policy adds to an allow it determines, read from its annotations at install. */
interface PermitEffects {
  /** Its obligations, in its annotations' order. */
  obligations: Array<[string, string | number | boolean]>;
  /** Its `@risk_delta`, when it has one. */
  delta: number | undefined;
}

interface Installed {
  bundle: Bundle;
  setId: string;
  /** The bundle's permit policies' obligations and risk delta by policy id. */
  permits: Map<string, PermitEffects>;
  explainer: DecisionExplainer;
  /** The bundle's entities by uid (`Type::"id"`), for those a request's principal or resource is. */
  entityAt: Map<string, number>;
}

/**
 * The request's entities with the bundle's. A principal or resource the bundle also holds (a
 * user placed in groups) is one entity: the bundle's parents, and its attributes over the
 * intent's (the bundle is the operator's word, the intent the caller's). Given twice, Cedar
 * refuses the request ("duplicate entity entry").
 */
function requestEntities(req: CedarRequest, cur: Installed): cedar.EntityJson[] {
  const fromBundle = cur.bundle.entities;
  const merged: number[] = [];
  const own = req.entities.map((e) => {
    const at = cur.entityAt.get(uidKey(e.uid)!);
    if (at === undefined) return e;
    merged.push(at);
    const b = fromBundle[at] as { attrs?: Record<string, unknown>; parents?: unknown[] };
    return { uid: e.uid, attrs: { ...e.attrs, ...b.attrs }, parents: b.parents ?? [] };
  });
  // The request's own entities, as merged, are what the reason quotes.
  req.entities = own as CedarRequest["entities"];
  const rest = merged.length === 0 ? fromBundle : fromBundle.filter((_, i) => !merged.includes(i));
  return [...own, ...rest] as cedar.EntityJson[];
}

function annotationValue(v: string): string | number | boolean {
  if (/^-?\d{1,15}$/.test(v)) return Number(v);
  if (v === "true" || v === "false") return v === "true";
  return v;
}

function permitEffects(p: LoadedPolicy): PermitEffects {
  const out: PermitEffects = { obligations: [], delta: undefined };
  for (const [k, v] of Object.entries(p.annotations)) {
    if (k.startsWith(OBLIGATION_PREFIX)) {
      out.obligations.push([k.slice(OBLIGATION_PREFIX.length), annotationValue(v)]);
    } else if (k === "risk_delta") out.delta = Number(v);
  }
  return out;
}

/** Cedar's WebAssembly trapped on the latest decision: it may stay unusable until a restart. */
export interface EngineTrap {
  message: string;
  /** When the first trap of this run of them happened (ISO 8601). */
  since: string;
}

/** The trap `err` is, when it is one (a `WebAssembly.RuntimeError`, such as running out of memory). */
function trapOf(err: unknown): string | undefined {
  return err instanceof WebAssembly.RuntimeError ? errorMessage(err) : undefined;
}

/** cedar-wasm's answer, with a throw turned into a failure answer. */
function authorize(
  req: CedarRequest,
  entities: cedar.EntityJson[],
  setId: string,
  onTrap: (message: string) => void,
): cedar.AuthorizationAnswer {
  try {
    return cedar.statefulIsAuthorized({
      principal: req.principal,
      action: req.action,
      resource: req.resource,
      context: req.context as cedar.Context,
      entities,
      preparsedPolicySetId: setId,
    });
  } catch (err) {
    const trap = trapOf(err);
    if (trap !== undefined) onTrap(trap);
    const message = `engine error: ${errorMessage(err)}`;
    const error = { message, help: null, code: null, url: null, severity: null };
    return { type: "failure", errors: [error], warnings: [] };
  }
}

/** Evaluates intents against the installed bundle. */
export class PolicyEngine {
  readonly #name = `iatp-engine-${++engines}`;
  #slot = 0;
  #current: Installed;
  #trap: EngineTrap | undefined;

  constructor(bundle: Bundle) {
    this.#current = this.#prepare(bundle);
  }

  /**
   * Set while Cedar's WebAssembly trapped on the latest decision (an instance that trapped may
   * fail every later call); cleared by the next decision Cedar makes.
   */
  get trap(): EngineTrap | undefined {
    return this.#trap;
  }

  /** The bundle in force. */
  get bundle(): Bundle {
    return this.#current.bundle;
  }

  /** Pre-parses `bundle` into the idle slot, then swaps it in; the old one stays on failure. */
  install(bundle: Bundle): void {
    this.#current = this.#prepare(bundle);
  }

  #prepare(bundle: Bundle): Installed {
    const slot = this.#slot === 0 ? 1 : 0;
    const setId = `${this.#name}-${slot}`;
    const staticPolicies = Object.fromEntries(bundle.policies.map((p) => [p.id, p.text]));
    const r = cedar.preparsePolicySet(setId, { staticPolicies });
    if (r.type === "failure") {
      throw new PolicyBundleError(r.errors.map((e) => e.message).join("; "));
    }
    this.#slot = slot;
    const permits = new Map<string, PermitEffects>();
    for (const p of bundle.policies) {
      // A later policy of the same id replaces an earlier one, as in the set Cedar pre-parsed.
      if (p.effect === "permit") permits.set(p.id, permitEffects(p));
      else permits.delete(p.id);
    }
    const entityAt = new Map<string, number>();
    bundle.entities.forEach((e, i) => {
      const key = uidKey((e as { uid?: unknown }).uid);
      if (key !== undefined) entityAt.set(key, i);
    });
    const explainer = new DecisionExplainer(bundle, `${setId}-probes`);
    return { bundle, setId, permits, explainer, entityAt };
  }

  /**
   * Decides an intent. `txId` is used when the intent has none. `risk` is the session risk
   * `risk_after` starts from (default: the intent's); `missingRisk` stands in when there is
   * none (default: `risk_after` is null). Never throws: a request the engine cannot evaluate
   * (cedar-wasm throws on input such as a lone UTF-16 surrogate) is a `deny` carrying the
   * engine's error.
   */
  evaluate(
    intent: Intent,
    txId: string = intent.tx_id ?? crypto.randomUUID(),
    opts: { risk?: number; missingRisk?: number } = {},
  ): Decision {
    const cur = this.#current;
    const req = toCedarRequest(intent);
    const entities = requestEntities(req, cur);
    const answer = authorize(req, entities, cur.setId, (message) => {
      this.#trap ??= { message, since: new Date().toISOString() };
    });
    if (answer.type === "success") this.#trap = undefined;
    const risk = opts.risk ?? intent.context?.session_risk ?? opts.missingRisk;
    const ts = new Date().toISOString();
    if (answer.type === "failure") {
      const errors = answer.errors.map((e) => ({ policy: "request", message: e.message }));
      return {
        tx_id: txId,
        policy_ref: cur.bundle.ref,
        ts,
        decision: "deny",
        obligations: {},
        risk_after: risk ?? null,
        explanation: { determining_policies: [], errors },
        reason: `the request could not be evaluated: ${errors[0]?.message ?? "unknown error"}`,
      };
    }
    const { decision, diagnostics } = answer.response;
    const obligations: Decision["obligations"] = {};
    let delta = 0;
    if (decision === "allow") {
      for (const id of diagnostics.reason) {
        const p = cur.permits.get(id);
        if (!p) continue;
        for (const [k, v] of p.obligations) obligations[k] = v;
        if (p.delta !== undefined) delta += p.delta;
      }
    }
    const explanation = {
      determining_policies: diagnostics.reason,
      errors: diagnostics.errors.map((e) => ({ policy: e.policyId, message: e.error.message })),
    };
    return {
      tx_id: txId,
      policy_ref: cur.bundle.ref,
      ts,
      decision,
      obligations,
      risk_after: risk === undefined
        ? null
        : decision === "allow"
        ? Math.max(0, risk + delta)
        : risk,
      explanation,
      reason: cur.explainer.reason(
        decision,
        explanation.determining_policies,
        explanation.errors,
        req,
        entities,
      ),
    };
  }
}
