/**
 * Human-readable reasons for policy decisions: which policy permitted, which forbade, or, when
 * no permit applied, which conditions of each permit failed and what the request held instead
 * ("seed-read-a-to-b needs context.session_risk < 50, but context.session_risk is 70").
 *
 * How: when a bundle is installed, each permit policy is split into probes, one per scope
 * constraint and one per top-level `&&` conjunct of its conditions, and the probes are
 * pre-parsed as one policy set. A deny that no forbid determined is then explained by one more
 * evaluation of that set with the same request: a probe that is not satisfied is a condition
 * that failed. Allows and forbids cost nothing extra.
 * @module
 */
import * as cedar from "@cedar-policy/cedar-wasm";
import type { Bundle } from "./bundle.ts";
import type { CedarRequest } from "./intent.ts";

/** Most permit policies a reason names; the rest are counted. */
const MAX_EXPLAINED_POLICIES = 5;
/** Most failed conditions named per policy. */
const MAX_FAILED_CONDITIONS = 3;
/** Longest reason (longer ones are cut with an ellipsis). */
const MAX_REASON_CHARS = 500;
/** Most probes built per bundle (bounds the work a large bundle adds). */
const MAX_PROBES = 512;

type Json = cedar.PolicyJson;
type Expr = cedar.Expr;
const ALL = { op: "All" } as const;
const HEAD = "permit(principal, action, resource)";

interface Probe {
  id: string;
  /** The probe policy: one scope constraint, or one condition under an open scope. */
  json: Json;
  policy: string;
  /** The condition as Cedar text. */
  text: string;
  /** Request attributes it reads, as `context.session_risk`. */
  reads: string[];
  kind: "scope" | "when" | "unless";
  /** For scope probes: which slot it constrains. */
  slot?: "principal" | "action" | "resource";
  /** For `has` conjuncts: the attribute it tests. */
  has?: string;
}

function conjuncts(e: Expr): Expr[] {
  const and = (e as { "&&"?: { left: Expr; right: Expr } })["&&"];
  return and ? [...conjuncts(and.left), ...conjuncts(and.right)] : [e];
}

function attrPath(e: Expr): string | undefined {
  const dot = (e as { "."?: { left: Expr; attr: string } })["."];
  const v = dot ? (dot.left as { Var?: string }).Var : undefined;
  return dot && v ? `${v}.${dot.attr}` : undefined;
}

function readsOf(e: unknown, out = new Set<string>()): string[] {
  if (e && typeof e === "object") {
    const path = attrPath(e as Expr);
    if (path) out.add(path);
    const has = (e as { has?: { left: Expr; attr: string } }).has;
    const hv = has ? (has.left as { Var?: string }).Var : undefined;
    if (has && hv) out.add(`${hv}.${has.attr}`);
    for (const v of Object.values(e)) readsOf(v, out);
  }
  return [...out];
}

function textOf(json: Json, cut: (t: string) => string | undefined): string | undefined {
  const r = cedar.policyToText(json);
  return r.type === "success" ? cut(r.text.trim()) : undefined;
}

function between(t: string, head: string, tail: string): string | undefined {
  return t.startsWith(head) && t.endsWith(tail) ? t.slice(head.length, -tail.length) : undefined;
}

function probesOf(id: string, n: number, p: Json): Probe[] {
  const out: Probe[] = [];
  const scopes = {
    principal: ["permit(", ", action, resource);"],
    action: ["permit(principal, ", ", resource);"],
    resource: ["permit(principal, action, ", ");"],
  } as const;
  for (const slot of ["principal", "action", "resource"] as const) {
    if (p[slot].op === "All") continue;
    const json = { effect: "permit", principal: ALL, action: ALL, resource: ALL, conditions: [] };
    const probe = { ...json, [slot]: p[slot] } as Json;
    const [head, tail] = scopes[slot];
    const text = textOf(probe, (t) => between(t, head, tail)) ?? `${slot} constraint`;
    out.push({
      id: `${n}.${slot}`,
      json: probe,
      policy: id,
      text,
      reads: [slot],
      kind: "scope",
      slot,
    });
  }
  p.conditions.forEach((clause, c) => {
    const parts = clause.kind === "when" ? conjuncts(clause.body) : [clause.body];
    parts.forEach((body, k) => {
      const json = { effect: "permit", principal: ALL, action: ALL, resource: ALL } as const;
      const probe = { ...json, conditions: [{ kind: "when", body }] } as Json;
      const text = textOf(probe, (t) => between(t, `${HEAD} when { `, " };")) ?? "a condition";
      const has = (body as { has?: { left: Expr; attr: string } }).has;
      const hv = has ? (has.left as { Var?: string }).Var : undefined;
      out.push({
        id: `${n}.${c}.${k}`,
        json: probe,
        policy: id,
        text,
        reads: readsOf(body),
        kind: clause.kind,
        ...(has && hv ? { has: `${hv}.${has.attr}` } : {}),
      });
    });
  });
  return out;
}

function show(v: unknown): string {
  if (v === undefined) return "missing";
  if (v && typeof v === "object" && "type" in v && "id" in v) {
    return `${String(v.type)}::${JSON.stringify(String(v.id))}`;
  }
  return JSON.stringify(v);
}

function cut(text: string): string {
  return text.length > MAX_REASON_CHARS ? text.slice(0, MAX_REASON_CHARS - 1) + "…" : text;
}

/** Explains the decisions of one installed bundle; see the module doc. */
export class DecisionExplainer {
  readonly #probes: Probe[] = [];
  readonly #permits: string[] = [];
  readonly #setId: string | undefined;

  /** Builds and pre-parses the probes of `bundle` under the policy-set id `setId`. */
  constructor(bundle: Bundle, setId: string) {
    for (const p of bundle.policies) {
      if (p.effect !== "permit") continue;
      this.#permits.push(p.id);
      const json = cedar.policyToJson(p.text);
      if (json.type !== "success") continue;
      const probes = probesOf(p.id, this.#permits.length, json.json);
      if (this.#probes.length + probes.length > MAX_PROBES) break;
      this.#probes.push(...probes);
    }
    const staticPolicies: Record<string, Json> = {};
    for (const pr of this.#probes) staticPolicies[pr.id] = pr.json;
    const ok = this.#probes.length > 0 &&
      cedar.preparsePolicySet(setId, { staticPolicies }).type === "success";
    this.#setId = ok ? setId : undefined;
  }

  /**
   * The reason for a decision on `req`: `determining` are the policies Cedar named, `errors`
   * its evaluation errors.
   */
  reason(
    decision: "allow" | "deny",
    determining: string[],
    errors: Array<{ policy: string; message: string }>,
    req: CedarRequest,
    entities: cedar.EntityJson[],
  ): string {
    if (decision === "allow") return cut(`permitted by ${determining.join(", ")}`);
    if (determining.length > 0) return cut(`forbidden by ${determining.join(", ")}`);
    if (this.#permits.length === 0) return "no policy permits anything";
    const failed = this.#failedProbes(req, entities);
    const parts: string[] = [];
    for (const id of this.#permits.slice(0, MAX_EXPLAINED_POLICIES)) {
      parts.push(this.#policyReason(id, failed, req));
    }
    const more = this.#permits.length - MAX_EXPLAINED_POLICIES;
    if (more > 0) parts.push(`and ${more} more polic${more === 1 ? "y" : "ies"}`);
    const err = errors[0]
      ? `; ${errors[0].policy} could not be evaluated: ${errors[0].message}`
      : "";
    return cut(`no policy permitted it: ${parts.join("; ")}${err}`);
  }

  #failedProbes(req: CedarRequest, entities: cedar.EntityJson[]): Set<string> | undefined {
    if (!this.#setId) return undefined;
    const answer = cedar.statefulIsAuthorized({
      principal: req.principal,
      action: req.action,
      resource: req.resource,
      context: req.context as cedar.Context,
      entities,
      preparsedPolicySetId: this.#setId,
    });
    if (answer.type === "failure") return undefined;
    const satisfied = new Set(answer.response.diagnostics.reason);
    return new Set(this.#probes.filter((p) => !satisfied.has(p.id)).map((p) => p.id));
  }

  #policyReason(id: string, failed: Set<string> | undefined, req: CedarRequest): string {
    if (!failed) return `${id} did not apply`;
    const mine = this.#probes.filter((p) => p.policy === id);
    // An `unless` probe fails the policy when it IS satisfied.
    const bad = mine.filter((p) => p.kind === "unless" ? !failed.has(p.id) : failed.has(p.id));
    const missing = new Set(bad.filter((p) => p.has).map((p) => p.has));
    const named = bad.filter((p) => p.has || !p.reads.every((r) => missing.has(r)));
    if (named.length === 0) return `${id} did not apply`;
    const list = named.slice(0, MAX_FAILED_CONDITIONS).map((p) => this.#describe(p, req));
    const rest = named.length - list.length;
    return `${id} needs ${list.join(" and ")}${rest > 0 ? ` (and ${rest} more)` : ""}`;
  }

  #describe(p: Probe, req: CedarRequest): string {
    if (p.has && p.kind === "when") return `${p.has}, which is missing`;
    const cond = p.kind === "unless" ? `not (${p.text})` : p.text;
    const actual = p.reads.slice(0, 3).map((r) => `${r} is ${show(valueOf(r, req))}`);
    return actual.length ? `${cond}, but ${actual.join(", ")}` : cond;
  }
}

/** The value a request holds at `path` (`context.x`, `principal.enterprise`, `action`). */
function valueOf(path: string, req: CedarRequest): unknown {
  const [root, attr] = path.split(".", 2);
  if (root === "context") return attr === undefined ? req.context : req.context[attr];
  const uid = root === "principal"
    ? req.principal
    : root === "resource"
    ? req.resource
    : root === "action"
    ? req.action
    : undefined;
  if (!uid) return undefined;
  if (attr === undefined) return uid;
  const e = req.entities.find((x) => x.uid.type === uid.type && x.uid.id === uid.id);
  return e?.attrs[attr];
}
