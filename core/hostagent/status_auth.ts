/**
 * The status agent's read scope: with credentials configured (`auth_keys`), its read routes
 * (`/api/v1/metrics`, `/api/v1/metrics/stream`, `/capabilities`, and the JSON snapshot at
 * `/metrics`) need a credential holding `status:read`. The settings are checked at start
 * (core/auth/mesh); the verifier (core/auth) loads with the first request that needs it, and
 * never while auth is off.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { onceUntilFailure } from "../async/mod.ts";
import type { MeshAuth } from "../auth/mod.ts";
import type { MeshAuthSettings } from "../auth/mesh/mod.ts";
import { HttpError } from "../errors/mod.ts";
import type { AppEnv } from "../http/mod.ts";
import { loadAuth } from "./auth.ts";

/** The scope the status agent's reads need when auth is on. */
export const STATUS_READ_SCOPE = "status:read";

/** What a read gets, and `/health` names, when the credential check cannot be loaded. */
export const CHECK_UNAVAILABLE = "the credential check could not be loaded";

/** The check in front of the status agent's reads. */
export interface StatusReadGuard {
  /** True when credentials are configured: every read needs `status:read`. */
  readonly enabled: boolean;
  /**
   * True while the verifier cannot be loaded: every read answers 503. Each read tries the load
   * again, but Deno keeps a failed import, so in practice it lasts until a restart.
   */
  readonly unavailable: boolean;
  /**
   * Checks a request given its request-target (or URL) and `Authorization` field; a no-op with
   * auth off.
   * @throws {HttpError} 401 without a valid credential, 403 without the scope, 503 when the
   * verifier cannot be loaded
   */
  check(target: string, authorization: string | null): Promise<void>;
  /** The same check as middleware for the app's routes (a 401 carries the challenge). */
  middleware: MiddlewareHandler<AppEnv>;
  /**
   * For a request that passed {@linkcode StatusReadGuard.middleware} and is still being served
   * (a stream): true once its credential no longer holds (expired, or revoked since). Always
   * false with auth off.
   */
  lapsed(c: Context<AppEnv>): Promise<boolean>;
}

type Auth = typeof import("../auth/mod.ts");

/** The verifier and the read check's middleware, built once with the first read. */
interface Verifier {
  auth: Auth;
  mesh: MeshAuth;
  read: MiddlewareHandler<AppEnv>;
}

/**
 * Builds the guard from the settings checked at start; the verifier is built with the first
 * read that needs it.
 */
export function statusReadGuard(settings: MeshAuthSettings): StatusReadGuard {
  let unavailable = false;
  const verifier = onceUntilFailure(async (): Promise<Verifier> => {
    let auth: Auth;
    try {
      auth = await loadAuth();
    } catch (err) {
      // Nothing is served unchecked: the read that needed the check gets a 503 (logged once).
      if (!unavailable) settings.log.error(CHECK_UNAVAILABLE, { err });
      unavailable = true;
      throw new HttpError(503, CHECK_UNAVAILABLE, {}, { cause: err });
    }
    unavailable = false;
    const mesh = auth.createMeshAuth(settings);
    return { auth, mesh, read: auth.requireMeshScope(mesh, STATUS_READ_SCOPE) };
  });
  return {
    enabled: settings.enabled,
    get unavailable() {
      return unavailable;
    },
    async check(target, authorization) {
      if (!settings.enabled) return;
      const { auth, mesh } = await verifier();
      auth.requireGrant(await mesh.authenticateHead(target, authorization), STATUS_READ_SCOPE);
    },
    middleware: async (c, next) => {
      if (!settings.enabled) return await next();
      return await (await verifier()).read(c, next);
    },
    async lapsed(c) {
      if (!settings.enabled) return false;
      const { auth, mesh } = await verifier();
      const principal = auth.principalOf(c);
      return principal !== undefined && (await mesh.lapsed())(principal);
    },
  };
}
