/**
 * Bearer authentication of mesh calls: every service that serves other services checks the
 * `Authorization: Bearer` credential of a request (a signed mesh credential, or a relay static
 * token) and the scope its route needs. Auth is off only when nothing is configured, which
 * protected mode allows on loopback alone.
 *
 * Failures never say which of several credentials exists: a missing, malformed, unknown,
 * expired or revoked credential is one 401; a valid one without the scope is a 403 naming the
 * scope. Credentials in the query string are refused, since they end up in access logs.
 *
 * @example
 * ```ts
 * const auth = createMeshAuth({ keys: [issuer.publicKey] });
 * app.post("/audit", requireMeshScope(auth, "audit:append"), handler);
 * ```
 * @module
 */
import { sha256Hex } from "../crypto/mod.ts";
import type { Context, MiddlewareHandler } from "hono";
import { HttpError } from "../errors/mod.ts";
import type { AppEnv } from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";
import { CredentialVerifier, looksLikeCredential } from "./credential.ts";
import { CredentialError } from "./settings/mod.ts";
import { Grants } from "./grants.ts";
import type { RevokedIds } from "./mesh/mod.ts";

/** Who made a request, once authenticated. */
export interface Principal {
  /** The credential's subject, or `token:<digest prefix>` for a static token. */
  id: string;
  grants: Grants;
  /** The credential id (absent for static tokens). */
  jti?: string;
  /** When the credential expires, unix seconds (absent: static tokens, or it never expires). */
  exp?: number;
}

/** Query parameters that look like credentials; a request carrying one is refused. */
const CREDENTIAL_QUERY_PARAMS = [
  "access_token",
  "token",
  "auth",
  "authorization",
  "api_key",
  "apikey",
  "bearer",
  "credential",
];

/** Options for {@linkcode createMeshAuth}. */
export interface MeshAuthOptions {
  /** Trusted issuer public keys (`iatp-ed25519:...`). */
  keys?: string[];
  /** Credential ids refused even when valid: ids, or a live list (revocation files). */
  revoked?: string[] | RevokedIds;
  /** Static bearer tokens and their scopes (the relay's `tokens` setting). */
  staticTokens?: Record<string, string[]>;
  log?: Logger;
  /** Counts each refusal by reason (metrics). */
  onReject?: (reason: string) => void;
  now?: () => number;
}

/** The authenticator of one service. */
export interface MeshAuth {
  /** False when no key and no static token is configured: every request is let through. */
  readonly enabled: boolean;
  /**
   * The caller of `req`, or undefined when auth is off.
   * @throws {HttpError} 401 for a missing, invalid, expired or revoked credential, or one sent
   * in the query string.
   */
  authenticate(req: Request): Promise<Principal | undefined>;
  /**
   * {@linkcode MeshAuth.authenticate} from the request-target (or URL) and the `Authorization`
   * field alone, for a route served without a fetch Request (the raw path).
   * @throws {HttpError} as `authenticate`
   */
  authenticateHead(target: string, authorization: string | null): Promise<Principal | undefined>;
  /**
   * For a service that keeps serving a caller after the request that authenticated it (a
   * stream): resolves, once a due re-read of the revocation files has ended, to a check that is
   * true when the credential a principal came from no longer holds (it expired, or its `jti` is
   * revoked now). A static token's principal always holds.
   */
  lapsed(): Promise<(principal: Principal) => boolean>;
}

/**
 * Builds the authenticator from configured keys and static tokens.
 * @throws {CredentialError} when a configured key is malformed.
 */
export function createMeshAuth(opts: MeshAuthOptions): MeshAuth {
  const keys = opts.keys ?? [];
  const r = opts.revoked ?? [];
  const revoked: RevokedIds = Array.isArray(r) ? new Set(r) : r;
  const now = opts.now ?? Date.now;
  const verifier = new CredentialVerifier(keys, { revoked, now: opts.now });
  const statics = new Map<string, Principal>();
  for (const [token, scopes] of Object.entries(opts.staticTokens ?? {})) {
    const d = sha256Hex(token);
    statics.set(d, { id: `token:${d.slice(0, 8)}`, grants: new Grants(scopes) });
  }
  const enabled = verifier.size > 0 || statics.size > 0;
  const refuse = (reason: string): never => {
    opts.onReject?.(reason);
    opts.log?.debug("request refused", { reason });
    throw new HttpError(
      401,
      "authentication required: send a valid Authorization: Bearer credential",
      {
        reason: reason === "query_string" ? reason : "unauthenticated",
      },
    );
  };
  const authenticateHead = async (
    target: string,
    authorization: string | null,
  ): Promise<Principal | undefined> => {
    if (!enabled) return undefined;
    const q = target.indexOf("?");
    if (q >= 0) {
      // A URL has no fragment; a request-target's `#...` is not part of its query either.
      const hash = target.indexOf("#", q);
      const params = new URLSearchParams(target.slice(q + 1, hash < 0 ? undefined : hash));
      if (CREDENTIAL_QUERY_PARAMS.some((p) => params.has(p))) refuse("query_string");
    }
    const m = /^Bearer[ \t]+(\S{1,8192})[ \t]*$/i.exec(authorization ?? "");
    if (!m) return refuse("missing");
    const token = m[1];
    const stat = statics.get(sha256Hex(token));
    if (stat) return stat;
    if (!looksLikeCredential(token) || verifier.size === 0) return refuse("unknown");
    try {
      const claims = await verifier.verify(token);
      const p: Principal = { id: claims.sub, grants: new Grants(claims.scopes), jti: claims.jti };
      if (claims.exp !== undefined) p.exp = claims.exp;
      return p;
    } catch (err) {
      if (err instanceof CredentialError) return refuse(err.reason);
      throw err;
    }
  };
  return {
    enabled,
    authenticate: (req) => authenticateHead(req.url, req.headers.get("authorization")),
    authenticateHead,
    async lapsed() {
      await revoked.checked?.();
      const secs = Math.floor(now() / 1000);
      return (p) =>
        p.jti !== undefined && ((p.exp !== undefined && secs >= p.exp) || revoked.has(p.jti));
    },
  };
}

/**
 * Throws 403 unless `principal` holds `scope`; a no-op when auth is off (`principal` undefined).
 * @throws {HttpError} 403 naming the missing scope.
 */
export function requireGrant(principal: Principal | undefined, scope: string): void {
  if (principal && !principal.grants.allows(scope)) {
    throw new HttpError(403, `credential lacks scope ${scope}`, { required: scope });
  }
}

const principals = new WeakMap<Request, Principal>();

/** The authenticated caller of a request that passed {@linkcode requireMeshScope}, if auth is on. */
export function principalOf(c: Context<AppEnv>): Principal | undefined {
  return principals.get(c.req.raw);
}

/**
 * Middleware: authenticates the request and requires `scope` (a string, or a function of the
 * request for scopes that depend on it). Sets `WWW-Authenticate` on a 401.
 */
export function requireMeshScope(
  auth: MeshAuth,
  scope: string | ((c: Context<AppEnv>) => string | undefined),
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!auth.enabled) return await next();
    let principal: Principal | undefined;
    try {
      principal = await auth.authenticate(c.req.raw);
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) {
        c.header("WWW-Authenticate", 'Bearer realm="iatp"');
      }
      throw err;
    }
    const wanted = typeof scope === "string" ? scope : scope(c);
    if (wanted !== undefined) requireGrant(principal, wanted);
    if (principal) principals.set(c.req.raw, principal);
    await next();
  };
}
