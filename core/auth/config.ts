/**
 * Mesh-auth settings shared by every service that serves other services, protected mode, and
 * the `file:PATH` form of credential settings.
 *
 * Protected mode (as Redis has): a service that listens beyond loopback with no credentials
 * configured refuses to start, naming the setting, unless it was started with `--insecure`,
 * which logs a warning at every start. On loopback the open default stays for development.
 * @module
 */
import { ConfigError, type ConfigSource, errorMessage } from "../errors/mod.ts";
import { bool, FileTooLargeError, list, readTextUpTo } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { registerSecret } from "../log/mod.ts";
import { createMeshAuth, type MeshAuth } from "./bearer.ts";
import { decodeBase64 } from "../encoding/mod.ts";
import { CredentialError, parsePublicKey } from "./credential.ts";
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
}

/** True for addresses only this host can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Reads a setting given as `file:PATH` (the trimmed file content) or returns it unchanged;
 * the value is registered as a secret so it never reaches a log.
 * @throws {ConfigError} naming the setting when the file cannot be read or is larger than
 * `MAX_SETTING_FILE_BYTES`.
 */
export function resolveSecretSetting(
  key: string,
  value: string | undefined,
  source: ConfigSource = { kind: "default" },
): string | undefined {
  if (value === undefined || value === "") return undefined;
  let out = value;
  if (value.startsWith("file:")) {
    const path = value.slice(5);
    try {
      out = readTextUpTo(path).trim();
    } catch (err) {
      const why = err instanceof FileTooLargeError
        ? err.message
        : err instanceof Deno.errors.NotFound
        ? "no such file"
        : err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied
        ? "no permission to read it"
        : errorMessage(err);
      throw new ConfigError(key, source, `a readable file at ${path}`, why, { cause: err });
    }
  }
  registerSecret(out);
  return out;
}

/**
 * Expands `file:PATH` entries of `auth_keys` (one key per non-empty, non-# line) and checks
 * every key parses.
 * @throws {ConfigError} naming `auth_keys` for an unreadable file or a malformed key.
 */
export function resolveAuthKeys(keys: string[], source?: ConfigSource): string[] {
  const out: string[] = [];
  for (const entry of keys) {
    const text = entry.startsWith("file:")
      ? resolveSecretSetting("auth_keys", entry, source)!
      : entry;
    for (const [i, line] of text.split("\n").entries()) {
      const k = line.trim();
      if (k === "" || k.startsWith("#")) continue;
      try {
        parsePublicKey(k);
      } catch (err) {
        if (!(err instanceof CredentialError)) throw err;
        const where = entry.startsWith("file:") ? ` (line ${i + 1} of ${entry.slice(5)})` : "";
        throw new ConfigError(
          "auth_keys",
          source ?? { kind: "default" },
          "public keys of the form iatp-ed25519:<43 base64url characters>",
          notAKey(k) + where,
          { cause: err },
        );
      }
      out.push(k);
    }
  }
  return out;
}

/**
 * What an entry of auth_keys that is not a public key looks like, without its value: it may be a
 * secret given by mistake (the issuer's private seed, a credential).
 */
function notAKey(entry: string): string {
  let bytes = -1;
  try {
    bytes = decodeBase64(entry).length;
  } catch { /* not base64 */ }
  if (bytes === 32) {
    return "an issuer private key (issuer.key; give its public key, issuer.pub)";
  }
  if (entry.startsWith("iatp1.")) return "a credential (give the issuer's public key, issuer.pub)";
  return `a value of ${entry.length} characters that is not one`;
}

/** What {@linkcode meshAuthFor} needs besides the config. */
export interface MeshAuthContext {
  command: string;
  host: string;
  log: Logger;
  /** Static tokens (the relay's `tokens`), counted as credentials for protected mode. */
  staticTokens?: Record<string, string[]>;
  source?: ConfigSource;
  onReject?: (reason: string) => void;
}

/**
 * Builds a service's authenticator and applies protected mode.
 * @throws {ConfigError} naming `auth_keys` when the service would listen beyond loopback with
 * no credentials and without `insecure`, or when a key is malformed.
 */
export function meshAuthFor(config: MeshAuthConfig, ctx: MeshAuthContext): MeshAuth {
  const keys = resolveAuthKeys(config.auth_keys, ctx.source);
  let revoked: RevocationList;
  try {
    revoked = new RevocationList(config.auth_revoked, { log: ctx.log });
  } catch (err) {
    if (!(err instanceof RevocationFileError)) throw err;
    throw new ConfigError(
      "auth_revoked",
      ctx.source ?? { kind: "default" },
      `a readable file of credential ids at ${err.path}`,
      err.why,
      { cause: err },
    );
  }
  const auth = createMeshAuth({
    keys,
    revoked,
    staticTokens: ctx.staticTokens,
    log: ctx.log,
    onReject: ctx.onReject,
  });
  if (!auth.enabled && !isLoopbackHost(ctx.host)) {
    if (!config.insecure) {
      throw new ConfigError(
        "auth_keys",
        ctx.source ?? { kind: "default" },
        `issuer keys (auth_keys) when listening on ${ctx.host}, beyond loopback; ` +
          "or --insecure to run open",
        "no credentials configured",
      );
    }
    ctx.log.warn(
      "insecure: listening beyond loopback with no credentials; anyone who can " +
        "reach this port can use it",
      { host: ctx.host, service: ctx.command },
    );
  }
  return auth;
}
