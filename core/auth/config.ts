/**
 * A service's authenticator from its mesh-auth settings: the settings' start checks and
 * protected mode (core/auth/mesh), then the verifier (bearer.ts).
 * @module
 */
import { createMeshAuth, type MeshAuth } from "./bearer.ts";
import { type MeshAuthConfig, type MeshAuthContext, meshAuthSettings } from "./mesh/mod.ts";

export {
  isLoopbackHost,
  type MeshAuthConfig,
  type MeshAuthContext,
  meshAuthFields,
} from "./mesh/mod.ts";

/**
 * Builds a service's authenticator and applies protected mode ({@linkcode meshAuthSettings}).
 * @throws {ConfigError} naming `auth_keys` when the service would listen beyond loopback with
 * no credentials and without `insecure`, or when a key is malformed.
 */
export function meshAuthFor(config: MeshAuthConfig, ctx: MeshAuthContext): MeshAuth {
  return createMeshAuth(meshAuthSettings(config, ctx));
}
