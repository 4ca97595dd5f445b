/**
 * The policy service's HTTP routes: `POST /evaluate` and `GET /policies`. With auth on both need
 * `policy:evaluate`: the rule list (ids, effects, annotations) tells an outsider which requests
 * would pass, so it is shown only to callers who may ask for decisions.
 * @module
 */
import { createMeshAuth, type MeshAuth, requireMeshScope } from "../../core/auth/bearer.ts";
import type { AuditClient } from "../../core/ledger/client.ts";
import type { App } from "../../core/http/mod.ts";
import type { Decision, PolicyEngine } from "../../core/policy/engine.ts";
import { intentSchema } from "../../core/policy/intent.ts";
import { readExactJson } from "../../core/ledger/json.ts";
import type { PolicyReloader } from "../../core/policy/reload.ts";

/** What the routes need. */
export interface PolicyRoutesDeps {
  engine: PolicyEngine;
  reloader: PolicyReloader;
  /** When set, every HTTP decision is also appended (non-blocking) to the ledger. */
  audit?: AuditClient;
  onDecision?: (d: Decision) => void;
  /** Guards both routes with `policy:evaluate` (default: open). */
  auth?: MeshAuth;
}

/** Registers the routes. */
export function registerPolicyRoutes(app: App, deps: PolicyRoutesDeps): void {
  const guard = requireMeshScope(deps.auth ?? createMeshAuth({}), "policy:evaluate");
  app.post("/evaluate", guard, async (c) => {
    // Strict bytes in: a lone surrogate or a value that cannot be kept exactly is a 400
    // naming the field, before the engine (which throws on them) ever sees it.
    const intent = intentSchema.parse(await readExactJson(c.req.raw));
    const decision = deps.engine.evaluate(intent);
    deps.onDecision?.(decision);
    deps.audit?.enqueue(
      {
        tx_id: decision.tx_id,
        event: "access.decision",
        actor: "policy",
        payload: { ...decision },
      },
      { idempotencyKey: `policy-decision:${decision.tx_id}:${decision.ts}` },
    );
    return c.json(decision);
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
