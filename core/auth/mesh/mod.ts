/**
 * Mesh-auth settings and protected mode apart from the verifier: the `auth_keys`,
 * `auth_revoked` and `insecure` fields, the start checks they get (issuer keys, revocation
 * files, protected mode) and the revocation list. A service that verifies credentials only on
 * some routes checks these at start and builds core/auth's authenticator with the first
 * request that needs it.
 *
 * @example
 * ```ts
 * const settings = meshAuthSettings(config, { command: "audit", host: config.host, log });
 * // later, with the routes: createMeshAuth(settings) (core/auth)
 * ```
 * @module
 */
export {
  isLoopbackHost,
  type MeshAuthConfig,
  type MeshAuthContext,
  meshAuthFields,
  type MeshAuthSettings,
  meshAuthSettings,
} from "./config.ts";
export {
  DEFAULT_REVOCATION_RECHECK_MS,
  MAX_REVOCATION_FILE_BYTES,
  RevocationFileError,
  RevocationList,
  type RevokedIds,
} from "./revocation.ts";
