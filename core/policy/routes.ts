/**
 * The policy service's HTTP routes: `POST /evaluate` and `GET /policies`. With auth on both need
 * `policy:evaluate`: the rule list (ids, effects, annotations) tells an outsider which requests
 * would pass, so it is shown only to callers who may ask for decisions.
 *
 * Under `compat: upstream` (the default) `/evaluate` reads and answers as the IG&S policy
 * service: missing objects and wrong types are 422 with `detail`, a missing `session_risk`
 * counts as 50 in `risk_after`, and only a `session_risk` it would fail on (a string, null, an
 * object) is a 400. Under `compat: iatp`: 400 for any wrong shape, `risk_after` null without a
 * risk.
 * @module
 */
import { createMeshAuth, type MeshAuth, requireMeshScope } from "../auth/mod.ts";
import { type CompatMode, invalidInput, readJsonInput, zodIssues } from "../compat/mod.ts";
import { HttpError, isValidationError } from "../errors/mod.ts";
import type { AuditClient } from "../ledger/client/mod.ts";
import { type App, readExactJson } from "../http/mod.ts";
import type { Decision, PolicyEngine } from "./engine.ts";
import {
  type IntentReader,
  loadIntentReader,
  type ParsedIntent,
  SessionRiskError,
} from "./intent.ts";
import type { PolicyReloader } from "./reload.ts";
import { decisionKey, decisionWire } from "./wire.ts";

/** The risk the IG&S policy service assumes when an intent states none. */
export const UPSTREAM_MISSING_RISK = 50;

/** What the routes need. */
export interface PolicyRoutesDeps {
  engine: PolicyEngine;
  reloader: PolicyReloader;
  /** When set, every HTTP decision is also appended (non-blocking) to the ledger. */
  audit?: AuditClient;
  onDecision?: (d: Decision) => void;
  /** Guards both routes with `policy:evaluate` (default: open). */
  auth?: MeshAuth;
  /** `upstream` (default) or `iatp`; see the module doc. */
  compat?: CompatMode;
}

/**
 * Reads an intent under `compat`.
 * @throws {HttpError} 400 for a session risk upstream fails on; 422 (upstream) or 400 (iatp)
 * for any other wrong shape.
 */
function readIntent(raw: unknown, compat: CompatMode, parseIntent: IntentReader): ParsedIntent {
  try {
    return parseIntent(raw, compat);
  } catch (err) {
    if (err instanceof SessionRiskError) throw new HttpError(400, err.message, {}, { cause: err });
    if (!isValidationError(err)) throw err;
    throw invalidInput(compat, "invalid intent", zodIssues(err));
  }
}

/** Registers the routes. */
export function registerPolicyRoutes(app: App, deps: PolicyRoutesDeps): void {
  const guard = requireMeshScope(deps.auth ?? createMeshAuth({}), "policy:evaluate");
  const compat = deps.compat ?? "upstream";
  // Loaded with the first intent (see loadIntentReader), then called without a wait.
  let reader: IntentReader | undefined;
  app.post("/evaluate", guard, async (c) => {
    // Only a browser sends Origin, and no page of any site asks for decisions (the service sends
    // no CORS headers): a plain post needs no preflight, so without this a page a browser visits
    // could have a policy service open on loopback decide, publish and log intents of its own.
    if (c.req.header("origin") !== undefined) {
      throw new HttpError(403, "decisions for a browser page are refused");
    }
    // Strict bytes in: a lone surrogate or a value that cannot be kept exactly is refused
    // naming the field, before the engine (which throws on them) ever sees it.
    const raw = await readJsonInput(compat, () => readExactJson(c.req.raw));
    const { intent, risk } = readIntent(raw, compat, reader ??= await loadIntentReader());
    const missingRisk = compat === "upstream" ? UPSTREAM_MISSING_RISK : undefined;
    const decision = deps.engine.evaluate(intent, undefined, { risk, missingRisk });
    deps.onDecision?.(decision);
    const wire = decisionWire(decision, compat);
    deps.audit?.enqueue(
      { tx_id: decision.tx_id, event: "access.decision", actor: "policy", payload: wire },
      { idempotencyKey: decisionKey(`${decision.tx_id}:${decision.ts}`) },
    );
    return c.json(wire);
  });

  app.get("/policies", guard, (c) => {
    const b = deps.engine.bundle;
    return c.json({
      ...deps.reloader.status(),
      schema: b.schema !== undefined,
      entities: b.entities.length,
      policies: b.policies.map((p) => ({
        id: p.id,
        file: p.file,
        effect: p.effect,
        annotations: p.annotations,
      })),
    });
  });
}
