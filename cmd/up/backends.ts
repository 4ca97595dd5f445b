/**
 * `iatp up --backend`: the settings that put the mesh's state on engines the user runs (the
 * relay's stream and the policy's shared queue on NATS JetStream, the ledger on PostgreSQL), and
 * a service's engine error told as `up`'s own setting.
 * @module
 */
import { ConfigError } from "../../core/errors/mod.ts";
import { missingUrl, type UpConfig } from "./config.ts";

/**
 * The relay's store: its JetStream stream on `nats_url` with `--backend nats`, else SQLite under
 * the data dir (`relay.db`), so a restart resumes every subscriber (the policy's intent loop and
 * the agents included) where it was, as the ledger and the policy's state do.
 * @throws {ConfigError} naming `nats_url` when `--backend nats` has none.
 */
export function relayStore(
  config: UpConfig,
  data: string,
): Pick<UpConfig, "nats"> & { store: string } {
  if (!config.backend.includes("nats")) {
    return { store: `sqlite:${data}/relay.db`, nats: config.nats };
  }
  if (config.nats_url === undefined) throw missingUrl("nats");
  return { store: config.nats_url, nats: config.nats };
}

/**
 * Where the policy keeps its decided tx_ids: with `--backend nats` and a relay, the replicas'
 * shared queue and JetStream KV on `nats_url`; else SQLite under the data dir.
 * @throws {ConfigError} naming `nats_url` when `--backend nats` has none.
 */
export function policyState(
  config: UpConfig,
  data: string,
  relayUrl: string | undefined,
): { queue?: string; nats?: UpConfig["nats"]; state_db?: string } {
  if (!config.backend.includes("nats") || relayUrl === undefined) {
    return { state_db: `${data}/policy-state.db` };
  }
  if (config.nats_url === undefined) throw missingUrl("nats");
  return { queue: config.nats_url, nats: config.nats };
}

/**
 * Where the ledger lives: SQLite under the data dir, or PostgreSQL with `--backend postgres`
 * (signed with the key under the data dir either way). A data dir that already holds a SQLite
 * ledger is refused for PostgreSQL: its key would sign a second log, from index 0, under the
 * same origin, which a monitor of the first one reports as a fork.
 * The other way, a data dir whose key signs a ledger elsewhere (`audit.db.key` without
 * `audit.db`) is refused for SQLite.
 * @throws {ConfigError} naming `postgres_url` when `--backend postgres` has none, and `backend`
 * when the data dir holds `audit.db` (PostgreSQL) or `audit.db.key` alone (SQLite).
 */
export async function auditStorage(
  config: UpConfig,
  data: string,
): Promise<{ db: string; db_password?: string; key_file: string }> {
  const key_file = `${data}/audit.db.key`;
  const sqlite = `${data}/audit.db`;
  const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);
  if (!config.backend.includes("postgres")) {
    if (await exists(key_file) && !await exists(sqlite)) {
      throw new ConfigError(
        "backend",
        { kind: "default" },
        "audit.db beside audit.db.key when --backend does not name postgres (that key signs a " +
          "ledger kept elsewhere, on PostgreSQL under --backend postgres, and a new SQLite " +
          "ledger under it would be a second log; name postgres again, or move audit.db.key " +
          "out of this data dir)",
        `no ${sqlite}`,
      );
    }
    return { db: sqlite, key_file };
  }
  if (config.postgres_url === undefined) throw missingUrl("postgres");
  if (await exists(sqlite)) {
    throw new ConfigError(
      "backend",
      { kind: "default" },
      "a data dir without a SQLite ledger when --backend names postgres (audit.db.key signs " +
        "the ledger on PostgreSQL, which would be a second log under the key of that one; " +
        "give another --data-dir, or move audit.db and audit.db.key out of this one)",
      sqlite,
    );
  }
  return { db: config.postgres_url, db_password: config.postgres_password, key_file };
}

/** The settings of each service that `up` fills from one of its own, per engine. */
const UP_SETTING: Record<string, Record<string, string>> = {
  relay: { store: "nats_url", "nats.password": "nats.password", "nats.token": "nats.token" },
  policy: { queue: "nats_url", "nats.password": "nats.password", "nats.token": "nats.token" },
  audit: { db: "postgres_url", db_password: "postgres_password" },
};

/**
 * A service's configuration error about an engine setting `up` filled, told as `up`'s setting
 * (`store` of the relay is `nats_url`): what was expected and found (an engine URL is shown
 * without its credentials) stay the service's own.
 * @example
 * ```ts
 * asUpSetting("relay", new ConfigError("store", src, "a reachable NATS server", "nats://h:4222"));
 * // ConfigError: nats_url (default): expected a reachable NATS server, found nats://h:4222
 * ```
 */
export function asUpSetting(service: string, err: unknown): unknown {
  if (!(err instanceof ConfigError)) return err;
  const key = UP_SETTING[service]?.[err.key];
  if (key === undefined) return err;
  return new ConfigError(key, { kind: "default" }, err.expected, err.found, { cause: err });
}
