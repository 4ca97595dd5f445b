/**
 * The relay's authorization on the shared mesh authenticator (core/auth): every route
 * authenticates first (a 401 before any body is read), then needs `publish:<topic>` or
 * `subscribe:<pattern>` for each topic it names. Signed mesh credentials and the relay's static
 * `tokens` speak the same scope vocabulary. With neither configured the relay is open.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { type MeshAuth, type Principal, requireGrant, requireMeshScope } from "../auth/mod.ts";
import type { AppEnv } from "../http/mod.ts";

export { principalOf } from "../auth/mod.ts";

/** What a route does with a topic. */
export type TopicAction = "publish" | "subscribe";

/** Middleware: authenticates the caller (401 on failure); scopes are checked by the route. */
export function authenticated(auth: MeshAuth): MiddlewareHandler<AppEnv> {
  return requireMeshScope(auth, () => undefined);
}

/**
 * Throws 403 naming the first scope `principal` lacks among `<action>:<topic>` for `topics`;
 * a no-op when auth is off (`principal` undefined).
 * @throws {HttpError} 403 naming the missing scope.
 */
export function requireTopics(
  principal: Principal | undefined,
  action: TopicAction,
  topics: readonly string[],
): void {
  for (const t of topics) requireGrant(principal, `${action}:${t}`);
}

/** True when `principal` (undefined: auth off) may subscribe to `topic`. */
export function maySee(principal: Principal | undefined, topic: string): boolean {
  return !principal || principal.grants.maySee(topic);
}
