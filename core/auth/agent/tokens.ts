/**
 * Where an agent's secrets come from (its HMAC signing key, and separately the status agent's
 * dashboard bearer token): a static value (AGENT_TOKEN, a setting) or Vault KV v2, read from the
 * agent's own key under `{prefix}/{deployment_hash}`, refreshed on an interval and on demand
 * after a 401/403. Tokens are only ever read from Vault, never written.
 * @module
 */
import { delayOf, timeoutSignal } from "../../async/mod.ts";
import { ConfigError, type ConfigSource } from "../../errors/mod.ts";
import { readBody } from "../../http/mod.ts";
import { registerSecret } from "../../log/mod.ts";
import type { Logger } from "../../log/mod.ts";

/**
 * Fewest bytes (UTF-8) of an HMAC key: the host agents' `agent_token`, the status agent's
 * `compose_agent.token` and a key read from Vault. A shorter key can be found by trying keys
 * offline against one captured signed request.
 */
export const MIN_HMAC_KEY_BYTES = 16;

/** The size of `key` in bytes when it is too short to be an HMAC key ("" is no key: not short). */
export function shortHmacKey(key: string): number | undefined {
  const bytes = new TextEncoder().encode(key).length;
  return bytes > 0 && bytes < MIN_HMAC_KEY_BYTES ? bytes : undefined;
}

/**
 * Checks a configured HMAC key (already read from its file) and returns it.
 * @example
 * ```ts
 * checkHmacKey("agent_token", "k".repeat(32)); // the key
 * ```
 * @throws {ConfigError} naming `setting` when the key is shorter than
 * {@linkcode MIN_HMAC_KEY_BYTES} (its size is told, never its value)
 */
export function checkHmacKey<K extends string | undefined>(
  setting: string,
  key: K,
  source: ConfigSource = { kind: "default" },
): K {
  const bytes = shortHmacKey(key ?? "");
  if (bytes === undefined) return key;
  throw new ConfigError(
    setting,
    source,
    `an HMAC key of at least ${MIN_HMAC_KEY_BYTES} bytes (the value, or a file:PATH holding it)`,
    `a key of ${bytes} byte${bytes === 1 ? "" : "s"}`,
  );
}

/** A current token that may change over time. */
export interface TokenSource {
  /** The token to sign with now ("" when none is known yet). */
  current(): string;
  /** Re-reads the token (debounced); resolves true when it changed. */
  refresh(reason: string): Promise<boolean>;
  /** Stops background refreshing. */
  close(): void;
  /**
   * When the token was last loaded (unix ms) and whether the last refresh succeeded (null for a
   * static token, which is never refreshed): `/health`'s token_age_seconds and last_refresh_ok.
   */
  freshness?(): { loadedAtMs: number; lastRefreshOk: boolean | null };
}

/** A token that never changes. */
export function staticToken(token: string): TokenSource {
  registerSecret(token);
  const loadedAtMs = Date.now();
  return {
    current: () => token,
    refresh: () => Promise.resolve(false),
    close: () => {},
    freshness: () => ({ loadedAtMs, lastRefreshOk: null }),
  };
}

/**
 * `/health`'s token fields as upstream reports them: seconds since the token was loaded, and
 * whether the last refresh worked (null without Vault).
 */
export function tokenHealth(source: TokenSource, now = Date.now()) {
  const f = source.freshness?.() ?? { loadedAtMs: now, lastRefreshOk: null };
  return {
    token_age_seconds: Math.max(0, Math.floor((now - f.loadedAtMs) / 1000)),
    last_refresh_ok: f.lastRefreshOk,
  };
}

/** Default Vault refresh interval. */
export const DEFAULT_VAULT_REFRESH_MS = 300_000;
/** Least time between two on-demand refreshes, so bad requests cannot hammer Vault. */
const DEFAULT_VAULT_MIN_REFRESH_GAP_MS = 5_000;
/** Timeout of one Vault request. */
const DEFAULT_VAULT_TIMEOUT_MS = 10_000;
/** Largest Vault response read. */
const VAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** Options for {@linkcode VaultTokenSource}. */
interface VaultOptions {
  /** VAULT_ADDRESS, e.g. http://vault:8200. */
  address: string;
  /** VAULT_TOKEN: the Vault credential used to read (not the agent token). */
  vaultToken: string;
  /** VAULT_AGENT_PATH_PREFIX, e.g. `secret/data/agents`. */
  prefix: string;
  deploymentHash: string;
  /** The agent's own key: `compose_agent_token`, `status_panel_token`, ... */
  key: string;
  /** A missing secret (404) is expected (logged at debug, not warn): the value is optional. */
  optional?: boolean;
  /** Used until the first successful read (e.g. AGENT_TOKEN). */
  fallback?: string;
  /**
   * Fewest bytes a read token must have (an HMAC key: {@linkcode MIN_HMAC_KEY_BYTES}); a shorter
   * one is refused as a missing one is (logged, the current token kept).
   */
  minBytes?: number;
  refreshMs?: number;
  minRefreshGapMs?: number;
  timeoutMs?: number;
  log?: Logger;
  fetch?: typeof fetch;
}

/** Reads the agent token from Vault KV v2 and keeps it fresh. */
export class VaultTokenSource implements TokenSource {
  #token: string;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastAttempt = 0;
  #inflight: Promise<boolean> | undefined;
  #loadedAt = Date.now();
  #lastOk = false;
  readonly url: string;

  constructor(private readonly opts: VaultOptions) {
    this.#token = opts.fallback ?? "";
    registerSecret(opts.vaultToken);
    registerSecret(this.#token);
    const base = opts.address.replace(/\/+$/, "");
    const prefix = opts.prefix.replace(/^\/+|\/+$/g, "");
    this.url = `${base}/v1/${prefix}/${encodeURIComponent(opts.deploymentHash)}/${
      encodeURIComponent(opts.key)
    }`;
  }

  /** Reads once now, then every `refreshMs`. Resolves after the first read (ok or not). */
  async start(): Promise<void> {
    await this.#read("startup");
    const every = this.opts.refreshMs ?? DEFAULT_VAULT_REFRESH_MS;
    this.#timer = setInterval(() => void this.#read("interval"), delayOf(every));
  }

  current(): string {
    return this.#token;
  }

  refresh(reason: string): Promise<boolean> {
    const gap = this.opts.minRefreshGapMs ?? DEFAULT_VAULT_MIN_REFRESH_GAP_MS;
    if (Date.now() - this.#lastAttempt < gap) return this.#inflight ?? Promise.resolve(false);
    return this.#read(reason);
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  freshness(): { loadedAtMs: number; lastRefreshOk: boolean } {
    return { loadedAtMs: this.#loadedAt, lastRefreshOk: this.#lastOk };
  }

  #read(reason: string): Promise<boolean> {
    if (this.#inflight) return this.#inflight;
    this.#lastAttempt = Date.now();
    this.#inflight = this.#fetchToken(reason).finally(() => this.#inflight = undefined);
    return this.#inflight;
  }

  async #fetchToken(reason: string): Promise<boolean> {
    const log = this.opts.log;
    try {
      const res = await (this.opts.fetch ?? fetch)(this.url, {
        headers: { "X-Vault-Token": this.opts.vaultToken },
        signal: timeoutSignal(this.opts.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS),
      });
      this.#lastOk = false;
      if (!res.ok) {
        await res.body?.cancel();
        const quiet = this.opts.optional && res.status === 404;
        log?.[quiet ? "debug" : "warn"]("could not read the agent key from vault", {
          status: res.status,
          key: this.opts.key,
          reason,
        });
        return false;
      }
      const text = new TextDecoder().decode(
        await readBody(res, { limit: VAULT_MAX_RESPONSE_BYTES }),
      );
      const token = (JSON.parse(text) as { data?: { data?: { token?: unknown } } })?.data?.data
        ?.token;
      if (typeof token !== "string" || token === "") {
        log?.warn("vault secret has no data.data.token", { key: this.opts.key });
        return false;
      }
      const bytes = new TextEncoder().encode(token).length;
      if (bytes < (this.opts.minBytes ?? 0)) {
        log?.warn("vault secret's token is too short to be used", {
          key: this.opts.key,
          bytes,
          min_bytes: this.opts.minBytes,
          reason,
        });
        return false;
      }
      registerSecret(token);
      const changed = token !== this.#token;
      this.#token = token;
      this.#loadedAt = Date.now();
      this.#lastOk = true;
      if (changed) log?.info("agent key loaded from vault", { key: this.opts.key, reason });
      return changed;
    } catch (err) {
      this.#lastOk = false;
      log?.warn("could not read the agent key from vault", { err, key: this.opts.key, reason });
      return false;
    }
  }
}

/** How an agent gets its token: Vault when an address is configured, else the static token. */
export interface TokenConfig {
  agentToken?: string;
  deploymentHash?: string;
  vaultAddress?: string;
  vaultToken?: string;
  vaultPrefix?: string;
  vaultKey: string;
  vaultRefreshMs?: number;
  /** The secret may be absent from Vault (see {@linkcode VaultOptions.optional}). */
  optional?: boolean;
  /** Fewest bytes of a token read from Vault (see {@linkcode VaultOptions.minBytes}). */
  minBytes?: number;
  log?: Logger;
}

/** Builds (and for Vault, starts) the token source of an agent. */
export async function tokenSourceFrom(c: TokenConfig): Promise<TokenSource> {
  if (!c.vaultAddress) return staticToken(c.agentToken ?? "");
  const source = new VaultTokenSource({
    address: c.vaultAddress,
    vaultToken: c.vaultToken ?? "",
    prefix: c.vaultPrefix ?? "",
    deploymentHash: c.deploymentHash ?? "",
    key: c.vaultKey,
    fallback: c.agentToken,
    refreshMs: c.vaultRefreshMs,
    optional: c.optional,
    minBytes: c.minBytes,
    log: c.log,
  });
  await source.start();
  return source;
}
