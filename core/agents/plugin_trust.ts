/**
 * Which plugins an action agent may install: one signed by a key in `plugins.trusted_keys`
 * (checked on the staging copy that will actually be installed), or one whose source is in
 * `plugins.allowed_sources` (exact local folders, or URL prefixes ending at a path boundary).
 * Anything else is refused with a reason the result names.
 * @module
 */
import { resolveAuthKeys } from "../auth/settings/mod.ts";
import { normalizePath } from "../config/mod.ts";
import { ConfigError, type ConfigSource } from "../errors/mod.ts";
import type { PluginSignatureError, VerifiedPlugin } from "../plugin/mod.ts";
import { pluginRuntime } from "./plugin_runtime.ts";

/** A POSIX absolute path. */
const isAbsolute = (path: string): boolean => path.startsWith("/");

/** Git URLs accepted: https, http, ssh, git and file schemes, or scp-like `user@host:path`. */
export const GIT_URL = /^(https?|ssh|git|file):\/\/[^\s]+$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/;

/** Why a plugin is refused: `source_not_allowed`, or a signature failure reason. */
export type TrustRefusal = "source_not_allowed" | PluginSignatureError["reason"];

/** A plugin the agent does not trust; `reason` is reported with the failed instruction. */
export class UntrustedPluginError extends Error {
  override name = "UntrustedPluginError";
  constructor(readonly reason: TrustRefusal, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The agent's plugin trust settings, resolved. */
export interface PluginTrustPolicy {
  /** Public keys (`iatp-ed25519:...`) whose signatures are accepted. */
  trustedKeys: string[];
  /** Canonical allowed sources: local folders (exact) and URL prefixes. */
  allowedSources: string[];
}

/**
 * The canonical form of a source, or undefined when it is not one: a local folder with no
 * `.`/`..` segment or doubled slash (the trailing slash dropped); a URL whose text is already
 * what a URL parser makes of it (so no dot segment or escape can point git elsewhere than the
 * prefix says); an scp-like `user@host:path` with no `..`, `%` or backslash.
 *
 * @example
 * ```ts
 * canonicalSource("/srv/plugins/x/"); // "/srv/plugins/x"
 * canonicalSource("https://git.example/org/../evil"); // undefined
 * ```
 */
export function canonicalSource(source: string): string | undefined {
  if (isAbsolute(source)) {
    const trimmed = source.length > 1 ? source.replace(/\/+$/, "") : source;
    return normalizePath(trimmed) === trimmed ? trimmed : undefined;
  }
  if (!GIT_URL.test(source)) return undefined;
  if (/^[a-z]+:\/\//i.test(source)) {
    try {
      return new URL(source).href === source ? source : undefined;
    } catch {
      return undefined;
    }
  }
  return /(^|[/:])\.\.(\/|$)|[%\\]/.test(source) ? undefined : source;
}

/** An operator's allowed_sources entry in the canonical form sources are compared in. */
function canonicalEntry(entry: string): string | undefined {
  const e = entry.trim();
  if (isAbsolute(e)) return canonicalSource(normalizePath(e));
  if (/^[a-z]+:\/\//i.test(e) && GIT_URL.test(e)) {
    try {
      return canonicalSource(new URL(e).href);
    } catch {
      return undefined;
    }
  }
  return canonicalSource(e);
}

/** True when `url` (a plugin_url) is allowed by one of the canonical `allowed` entries. */
export function sourceAllowed(url: string, allowed: readonly string[]): boolean {
  const src = canonicalSource(url);
  if (src === undefined) return false;
  return allowed.some((entry) => {
    if (isAbsolute(entry)) return src === entry;
    if (isAbsolute(src)) return false;
    if (src === entry || src === `${entry}.git`) return true;
    const boundary = /[/:]$/.test(entry) ? entry : `${entry}/`;
    return src.startsWith(boundary);
  });
}

/**
 * Resolves the plugin trust settings: keys (and `file:PATH` key files) parsed, sources
 * canonical.
 * @throws {ConfigError} naming `plugins.trusted_keys` or `plugins.allowed_sources`.
 */
export function pluginTrustPolicy(
  settings: { trusted_keys: string[]; allowed_sources: string[] },
  sources: { keys?: ConfigSource; allowed?: ConfigSource } = {},
): PluginTrustPolicy {
  let trustedKeys: string[];
  try {
    trustedKeys = resolveAuthKeys(settings.trusted_keys, sources.keys);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError("plugins.trusted_keys", err.source, err.expected, err.found, {
      cause: err,
    });
  }
  const allowedSources = settings.allowed_sources.map((entry) => {
    const canon = canonicalEntry(entry);
    if (canon === undefined) {
      throw new ConfigError(
        "plugins.allowed_sources",
        sources.allowed ?? { kind: "default" },
        "absolute local folders or git URL prefixes (https://, ssh://, git://, file://, " +
          "user@host:path) with no .. segment",
        JSON.stringify(entry.slice(0, 200)),
      );
    }
    return canon;
  });
  return { trustedKeys, allowedSources };
}

/** How an accepted plugin was trusted, for the execution log. */
export type TrustGrant = { by: "source" } | ({ by: "signature" } & VerifiedPlugin);

/**
 * Refuses early a source that nothing could make acceptable (not allowed, and no trusted keys
 * to accept a signature with), before anything is fetched.
 * @throws {UntrustedPluginError} `source_not_allowed`.
 */
export function checkSourceBeforeFetch(url: string, policy: PluginTrustPolicy): void {
  if (sourceAllowed(url, policy.allowedSources) || policy.trustedKeys.length > 0) return;
  throw new UntrustedPluginError(
    "source_not_allowed",
    `source not allowed: ${url} is not in plugins.allowed_sources, and no ` +
      "plugins.trusted_keys are set to accept a signed plugin",
  );
}

/**
 * Decides whether the staging copy `dir` of a plugin fetched from `url` may be installed.
 * @throws {UntrustedPluginError} naming why not.
 */
export async function trustPlugin(
  dir: string,
  url: string,
  policy: PluginTrustPolicy,
  bounds: { maxFiles: number; maxBytes: number },
): Promise<TrustGrant> {
  if (sourceAllowed(url, policy.allowedSources)) return { by: "source" };
  checkSourceBeforeFetch(url, policy);
  const { PluginSignatureError, verifyPlugin } = await pluginRuntime();
  try {
    return { by: "signature", ...await verifyPlugin(dir, policy.trustedKeys, bounds) };
  } catch (err) {
    if (!(err instanceof PluginSignatureError)) throw err;
    const message = err.reason === "unsigned"
      ? "unsigned: the plugin has no plugin.sig and its source is not in plugins.allowed_sources"
      : err.reason === "unknown_key"
      ? `${err.message} (not in plugins.trusted_keys)`
      : err.message;
    throw new UntrustedPluginError(err.reason, `plugin refused: ${message}`, { cause: err });
  }
}
