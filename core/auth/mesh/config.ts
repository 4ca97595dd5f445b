/**
 * Mesh-auth settings shared by every service that serves other services, and protected mode,
 * apart from the verifier: what a service checks at start (issuer keys, revocation files,
 * protected mode) before anything verifies a credential.
 *
 * Protected mode (as Redis has): a service that listens beyond loopback with no credentials
 * configured refuses to start, naming the setting, unless it was started with `--insecure`,
 * which logs a warning at every start. On loopback the open default stays for development.
 * @module
 */
import { ConfigError, type ConfigSource, describeSource } from "../../errors/mod.ts";
import { bool, envPrefixOf, list } from "../../config/mod.ts";
import type { Logger } from "../../log/mod.ts";
import { resolveAuthKeys } from "../settings/mod.ts";
import { RevocationFileError, RevocationList } from "./revocation.ts";

/** The settings of a service that verifies mesh credentials. */
export function meshAuthFields() {
  return {
    auth_keys: list({
      help: "issuer public keys (iatp-ed25519:...) whose credentials are accepted, or file:PATH",
      default: [],
      fileRef: true,
    }),
    auth_revoked: list({
      help: "credential ids (jti) refused even when valid, or file:PATH of ids (re-read on change)",
      default: [],
      fileRef: true,
    }),
    insecure: bool({
      help: "allow listening beyond loopback with no credentials (development only)",
      default: false,
    }),
  };
}

/** The values of {@linkcode meshAuthFields} after validation. */
export interface MeshAuthConfig {
  auth_keys: string[];
  auth_revoked: string[];
  insecure: boolean;
  /** The service's own HTTPS certificate (every service's http settings carry it). */
  tls_cert_file?: string;
}

/** True for addresses only this host can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** What {@linkcode meshAuthSettings} needs besides the config. */
export interface MeshAuthContext {
  command: string;
  host: string;
  log: Logger;
  /** Static tokens (the relay's `tokens`), counted as credentials for protected mode. */
  staticTokens?: Record<string, string[]>;
  source?: ConfigSource;
  /** Where `host` came from, named in the protected-mode refusal (`env STATUS_PANEL_BIND`). */
  hostSource?: ConfigSource;
  onReject?: (reason: string) => void;
}

/**
 * A service's checked mesh-auth settings: what core/auth's `createMeshAuth` builds its
 * authenticator from.
 */
export interface MeshAuthSettings {
  /** Trusted issuer public keys, each checked. */
  keys: string[];
  /** Revoked credential ids, files included (re-read on change). */
  revoked: RevocationList;
  staticTokens?: Record<string, string[]>;
  log: Logger;
  onReject?: (reason: string) => void;
  /** True when a key or a static token is configured: the authenticator checks every call. */
  enabled: boolean;
}

/**
 * Checks a service's mesh-auth settings and applies protected mode, without loading the
 * verifier (core/auth's `meshAuthFor` builds the authenticator from them at once).
 * @throws {ConfigError} naming `auth_keys` when the service would listen beyond loopback with
 * no credentials and without `insecure`, or when a key is malformed; `auth_revoked` when a
 * revocation file cannot be read.
 */
export function meshAuthSettings(config: MeshAuthConfig, ctx: MeshAuthContext): MeshAuthSettings {
  const keys = resolveAuthKeys(config.auth_keys, ctx.source);
  let revoked: RevocationList;
  try {
    revoked = new RevocationList(config.auth_revoked, { log: ctx.log });
  } catch (err) {
    if (!(err instanceof RevocationFileError)) throw err;
    throw new ConfigError(
      "auth_revoked",
      ctx.source ?? { kind: "default" },
      // As every file:PATH setting words it (`iatp config check` reads it so).
      `a readable file at ${err.path}`,
      err.why,
      { cause: err },
    );
  }
  // As the authenticator counts them: a key or a static token turns checking on.
  const enabled = keys.length > 0 || Object.keys(ctx.staticTokens ?? {}).length > 0;
  if (!enabled && !isLoopbackHost(ctx.host)) {
    if (!config.insecure) {
      const from = ctx.hostSource && ctx.hostSource.kind !== "default"
        ? ` (host, ${describeSource(ctx.hostSource)})`
        : "";
      throw new ConfigError(
        "auth_keys",
        ctx.source ?? { kind: "default" },
        `issuer keys (auth_keys) when listening on ${ctx.host}${from}, beyond loopback; ` +
          `or --insecure (${envPrefixOf(ctx.command)}INSECURE=true) to run open`,
        "no credentials configured",
      );
    }
    ctx.log.warn(
      "insecure: listening beyond loopback with no credentials; anyone who can " +
        "reach this port can use it",
      { host: ctx.host, service: ctx.command },
    );
  }
  if (enabled && !isLoopbackHost(ctx.host) && !config.tls_cert_file) {
    // A bearer credential is a password: over plain HTTP anyone on the path reads it and can
    // replay it until it expires. Not refused, since a TLS proxy or a private network may be in
    // front, but said at every start.
    ctx.log.warn(
      "credentials are accepted over plain HTTP beyond loopback: anyone on the network path " +
        "can read a caller's credential and use it until it expires or is revoked; set " +
        "tls_cert_file and tls_key_file, or keep the port behind a TLS proxy on a private network",
      { host: ctx.host, service: ctx.command },
    );
  }
  return {
    keys,
    revoked,
    staticTokens: ctx.staticTokens,
    log: ctx.log,
    onReject: ctx.onReject,
    enabled,
  };
}
