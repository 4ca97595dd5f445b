/**
 * The status agent's secrets, each used for one thing: its HMAC key signs requests (never sent),
 * its dashboard token is the only bearer credential it sends to the dashboard, and the
 * compose-agent's key signs forwarded Docker commands.
 * @module
 */
import {
  checkHmacKey,
  staticToken,
  type TokenSource,
  tokenSourceFrom,
} from "../../core/auth/agent/mod.ts";
import { resolveSecretSetting } from "../../core/auth/settings/mod.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import type { Logger } from "../../core/log/mod.ts";
import { agentTokenSource } from "../../core/hostagent/mod.ts";
import type { StatusConfig } from "./config.ts";

/** The status agent's credentials, resolved and (for Vault) loaded. */
export interface StatusCredentials {
  /** Signs dashboard requests; never sent. */
  hmac: TokenSource;
  /** The dashboard bearer credential, if any. */
  bearer?: TokenSource;
  /** The relay credential, if any. */
  relayToken?: string;
  /** The compose-agent's HMAC key ("" when none: forwarded commands are then refused). */
  composeAgentKey: TokenSource;
  /** Stops Vault refreshing. */
  close(): void;
}

/**
 * Resolves (`file:PATH`) and loads every credential of the status agent.
 * @throws {ConfigError} naming the setting whose file cannot be read, or `dashboard_token` when
 * it is the HMAC key.
 */
export async function openCredentials(c: StatusConfig, log: Logger): Promise<StatusCredentials> {
  const hmac = await agentTokenSource(c, log);
  let bearer: TokenSource | undefined;
  try {
    bearer = await dashboardTokenSource(c, log);
    if (c.signing === "iatp") assertDistinctKeys(hmac, bearer);
    const relayToken = resolveSecretSetting("relay_token", c.relay_token);
    const composeAgentKey = staticToken(
      checkHmacKey(
        "compose_agent.token",
        resolveSecretSetting("compose_agent.token", c.compose_agent.token),
      ) ?? "",
    );
    return {
      hmac,
      bearer,
      relayToken,
      composeAgentKey,
      close: () => {
        hmac.close();
        bearer?.close();
      },
    };
  } catch (err) {
    hmac.close();
    bearer?.close();
    throw err;
  }
}

/**
 * The bearer credential for the dashboard: from Vault (the agent's own
 * `dashboard_token_vault_key`, falling back to `dashboard_token`) when VAULT_ADDRESS is set,
 * else `dashboard_token`; undefined when there is none (requests then carry the signature alone).
 * @throws {ConfigError} naming `dashboard_token` when its file cannot be read.
 */
async function dashboardTokenSource(
  c: StatusConfig,
  log: Logger,
): Promise<TokenSource | undefined> {
  const configured = resolveSecretSetting("dashboard_token", c.dashboard_token);
  if (c.vault.address) {
    return await tokenSourceFrom({
      agentToken: configured,
      deploymentHash: c.deployment_hash,
      vaultAddress: c.vault.address,
      vaultToken: resolveSecretSetting("vault.token", c.vault.token),
      vaultPrefix: c.vault.path_prefix,
      vaultKey: c.dashboard_token_vault_key,
      vaultRefreshMs: c.vault.refresh,
      optional: true,
      log,
    });
  }
  return configured ? staticToken(configured) : undefined;
}

/**
 * Refuses a dashboard token that is the HMAC key itself (once both are resolved from files).
 * @throws {ConfigError} naming `dashboard_token`.
 */
function assertDistinctKeys(hmacKey: TokenSource, bearer: TokenSource | undefined): void {
  const b = bearer?.current() ?? "";
  if (b !== "" && b === hmacKey.current()) {
    throw new ConfigError(
      "dashboard_token",
      { kind: "default" },
      "a credential of its own, not the HMAC key (AGENT_TOKEN): a captured request " +
        "would let anyone forge signatures",
      "the HMAC key",
    );
  }
}
