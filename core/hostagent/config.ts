/**
 * Settings both host agents declare: the agent's identity and HMAC key (`agent_token` or Vault
 * KV v2), the signing mode, the relay, and the bounds of the signed command API. Which upstream
 * env names (AGENT_ID, AGENT_TOKEN, ...) a command also reads is its own spec's choice: each
 * name configures one command only.
 * @module
 */
import {
  checkHmacKey,
  DEFAULT_RATE_LIMIT_PER_MIN,
  DEFAULT_REPLAY_MAX_ENTRIES,
  DEFAULT_VAULT_REFRESH_MS,
  MIN_HMAC_KEY_BYTES,
  SIGNING_MODES,
  type TokenSource,
  tokenSourceFrom,
} from "../auth/agent/mod.ts";
import { resolveSecretSetting } from "../auth/settings/mod.ts";
import {
  duration,
  formatDuration,
  int,
  list,
  MAX_AGE_MS,
  oneOf,
  section,
  type SourceMap,
  str,
  url,
} from "../config/mod.ts";
import { ConfigError } from "../errors/mod.ts";
import type { Logger } from "../log/mod.ts";
import { relayFlushField, relayTimeoutField } from "../relay/client/settings/mod.ts";

/**
 * Keys of the TryDirect status panel's `config.json` (its shipped file and the one `status init`
 * writes) that neither host agent uses: its web server's TLS, domain and firewall settings. The
 * panel and its compose-agent mode both start with `--config config.json`, so both agents accept
 * them, listed once in a start-up warning.
 */
export const TRYDIRECT_UNUSED_KEYS: readonly string[] = [
  "ssl",
  "domain",
  "subdomains.*",
  "reqdata.*",
  "apps_info.*",
  "project",
  "container",
  "firewall.*",
];

/**
 * A host agent's id: it is sent as the X-Agent-Id header of every signed request, so a line
 * break, a control character or a character beyond ASCII (which no header may carry) would fail
 * each request after a start that went well, and so would a space at either end (dropped from a
 * header value on the way, so the id received is not the one signed). A space inside is carried
 * as it is. Empty: the command's default id.
 */
const AGENT_ID = /^(?:[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?)?$/;

/** Fields shared by both host agents: identity, Vault and signing bounds. */
export function agentAuthFields(vaultKey: string) {
  return {
    agent_id: str({
      help: "this agent's id (X-Agent-Id): visible ASCII and spaces inside, at most 256 " +
        "characters",
      default: "",
      pattern: AGENT_ID,
      expected: "an id of visible ASCII characters and spaces inside it (no space at either " +
        "end, no line break or other control), at most 256",
    }),
    agent_token: str({
      help: `HMAC signing key of at least ${MIN_HMAC_KEY_BYTES} bytes, never sent over the ` +
        "wire (or file:PATH; Vault overrides it when vault.address is set)",
      secret: true,
      fileRef: true,
    }),
    deployment_hash: str({ help: "deployment this host belongs to" }),
    signing: oneOf(SIGNING_MODES, {
      help: "request signatures: iatp (method, path, time, id and body), upstream (TryDirect's " +
        "body-only HMAC, replayable across paths; warns), or both (accept either, send upstream)",
      default: "iatp",
    }),
    vault: section({
      address: url({ help: "Vault address; enables the KV v2 token source" }),
      token: str({
        help: "Vault token used to read the agent token (or file:PATH)",
        secret: true,
        fileRef: true,
      }),
      path_prefix: str({
        help: "KV v2 path prefix; the key is read at {prefix}/{deployment_hash}/{token_key}",
        default: "secret/data/agents",
      }),
      token_key: str({
        help: "this agent's own key in Vault",
        default: vaultKey,
        pattern: /^[A-Za-z0-9_.-]{1,128}$/,
      }),
      refresh: duration({
        help: "Vault re-read interval",
        default: DEFAULT_VAULT_REFRESH_MS,
        min: 1000,
      }),
    }),
    relay_url: url({ help: "relay to publish status.* events to" }),
    relay_token: str({
      help: "bearer credential for the relay (or file:PATH)",
      secret: true,
      fileRef: true,
    }),
    relay_timeout: relayTimeoutField(),
    relay_flush_timeout: relayFlushField(),
  };
}

/** The config shape {@linkcode agentAuthFields} gives. */
export interface AgentAuthConfig {
  agent_token?: string;
  deployment_hash?: string;
  vault: {
    address?: string;
    token?: string;
    path_prefix: string;
    token_key: string;
    refresh: number;
  };
}

/**
 * The agent's own HMAC signing key: from Vault when VAULT_ADDRESS is set, else AGENT_TOKEN
 * (either may be given as `file:PATH`). A key shorter than `MIN_HMAC_KEY_BYTES` is refused: a
 * configured one fails the start, one read from Vault is logged and not used (as a missing one).
 * @throws {ConfigError} naming `agent_token` or `vault.token` when its file cannot be read, or
 * `agent_token` when its key is too short.
 */
export function agentTokenSource(c: AgentAuthConfig, log: Logger): Promise<TokenSource> {
  return tokenSourceFrom({
    agentToken: checkHmacKey("agent_token", resolveSecretSetting("agent_token", c.agent_token)),
    minBytes: MIN_HMAC_KEY_BYTES,
    deploymentHash: c.deployment_hash,
    vaultAddress: c.vault.address,
    vaultToken: resolveSecretSetting("vault.token", c.vault.token),
    vaultPrefix: c.vault.path_prefix,
    vaultKey: c.vault.token_key,
    vaultRefreshMs: c.vault.refresh,
    log,
  });
}

/**
 * Checks an HMAC key setting given as a value (one given as `file:PATH` is checked when the start
 * reads it), so `iatp config check` refuses a short key as the start does.
 * @throws {ConfigError} naming `setting` when its key is shorter than `MIN_HMAC_KEY_BYTES`
 */
export function checkLiteralHmacKey(
  setting: string,
  value: string | undefined,
  sources: SourceMap,
): void {
  if (value === undefined || value.startsWith("file:")) return;
  checkHmacKey(setting, value, sources.get(setting) ?? { kind: "default" });
}

/** Fields of the signed command API. */
export function signedApiFields() {
  return {
    scopes: list({
      help: "scopes granted to authenticated callers (default: none; e.g. docker:*,compose:*)",
      default: [],
    }),
    allowed_agents: list({
      help: "caller agent ids accepted (default: any id holding the key)",
      default: [],
      item: /^[A-Za-z0-9._:-]{1,128}$/,
    }),
    rate_limit_per_min: int({
      help: "signed requests per minute per caller",
      default: DEFAULT_RATE_LIMIT_PER_MIN,
      min: 1,
    }),
    replay_ttl: duration({
      help: "replay window: request ids are remembered this long",
      default: 600_000,
      min: 1000,
      max: MAX_AGE_MS, // compared with the clock, not waited for
    }),
    replay_max_entries: int({
      help: "bound on remembered request ids",
      default: DEFAULT_REPLAY_MAX_ENTRIES,
      min: 1,
    }),
    signature_max_skew: duration({
      help: "allowed clock skew of X-Timestamp",
      default: 300_000,
      min: 1000,
      max: MAX_AGE_MS, // compared with the clock, not waited for
    }),
  };
}

/** The values {@linkcode checkReplayWindow} looks at. */
export interface ReplayWindowConfig {
  /** Milliseconds. */
  replay_ttl: number;
  /** Milliseconds. */
  signature_max_skew: number;
}

/**
 * A signed request is accepted while its timestamp is within the skew either side of now, so
 * one request is acceptable for twice the skew; the replay store must remember its id at least
 * that long, or the same request is accepted again once the store forgets it.
 * @throws {ConfigError} naming `replay_ttl` and `signature_max_skew` when the replay window is
 * shorter than twice the skew.
 */
export function checkReplayWindow(c: ReplayWindowConfig, sources: SourceMap): void {
  const least = 2 * c.signature_max_skew;
  if (c.replay_ttl >= least) return;
  const skew = formatDuration(c.signature_max_skew);
  throw new ConfigError(
    "replay_ttl",
    sources.get("replay_ttl") ?? { kind: "default" },
    `at least twice signature_max_skew (2 x ${skew} = ${formatDuration(least)}), ` +
      "or a shorter signature_max_skew, so a signed request cannot be replayed",
    formatDuration(c.replay_ttl),
  );
}
