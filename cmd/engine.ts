/**
 * Connecting a service to its engine (NATS JetStream) from its settings: secrets given as
 * `file:PATH` are read, and an engine out of reach at start is a configuration error naming the
 * setting and the URL (exit 2), never a crash.
 * @module
 */
import { resolveSecretSetting } from "../core/auth/mod.ts";
import { ConfigError, errorMessage } from "../core/errors/mod.ts";
import type { Logger } from "../core/log/mod.ts";
import {
  connectNats,
  credentialsError,
  displayUrl,
  NATS_URL_EXPECTED,
  type NatsEngine,
  type NatsSection,
  natsSettings,
  NatsUrlError,
  UrlCredentialsError,
} from "../core/nats/mod.ts";

/**
 * Connects to the engine at `url` (the value of setting `key`).
 * @throws {ConfigError} naming `key` and the URL (without credentials) when it cannot be reached,
 * or the `nats` setting that gave credentials the server refused (`nats.password`...)
 */
export async function connectEngine(
  key: string,
  url: string,
  section: NatsSection,
  name: string,
  log: Logger,
): Promise<NatsEngine> {
  const resolved: NatsSection = {
    ...section,
    password: resolveSecretSetting("nats.password", section.password),
    token: resolveSecretSetting("nats.token", section.token),
  };
  const settings = natsSettings(url, resolved, name);
  try {
    return await connectNats(settings, log);
  } catch (err) {
    if (err instanceof ConfigError) throw err; // a file a nats setting names
    // Refused credentials given by a nats setting: that setting is the mistake, not the URL.
    const refused = credentialsError(err, settings);
    if (refused) throw refused;
    const shown = displayUrl(url);
    if (err instanceof NatsUrlError) {
      throw new ConfigError(
        key,
        { kind: "default" },
        NATS_URL_EXPECTED,
        `${shown} (${err.message})`,
        {
          cause: err,
        },
      );
    }
    if (err instanceof UrlCredentialsError) {
      // A mistake in the setting, not a server out of reach.
      // The setting's true source (flag, env var, config file line) is filled in by the start-up
      // report (explainStartFailure), as with every ConfigError raised while starting.
      throw new ConfigError(
        key,
        { kind: "default" },
        "a nats:// URL whose user:password@ or token@ is percent-encoded",
        `${shown} (${err.message})`,
        { cause: err },
      );
    }
    const why = errorMessage(err);
    throw new ConfigError(
      key,
      { kind: "default" },
      "a reachable NATS server with JetStream enabled",
      why.startsWith(shown) ? why : `${shown} (${why})`,
      { cause: err },
    );
  }
}
