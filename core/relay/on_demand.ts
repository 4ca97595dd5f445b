/**
 * What only some configurations of the relay use, imported when asked for: the SQLite store
 * (node:sqlite), the NATS JetStream store and the isolates of `--workers`. A relay on the memory
 * store with one isolate never loads them (tests/architecture_test.ts keeps them off its start).
 * @module
 */
import type { Channel } from "../cluster/mod.ts";
import type { Service } from "../http/mod.ts";
import type { RelayClusterOptions, RelayWorkerInit } from "./cluster.ts";
import type { JetStreamStore, JetStreamStoreOptions } from "./jetstream_store.ts";
import type { RelayServerOptions } from "./server.ts";
import type { SqliteStore } from "./sqlite_store.ts";
import type { Retention } from "./store.ts";

/**
 * Opens (creating it when missing) the SQLite topic log at `path`.
 * @throws {Error} when the file cannot be opened or written (node:sqlite's error)
 */
export async function openSqliteStore(path: string, retention: Retention): Promise<SqliteStore> {
  const { SqliteStore } = await import("./sqlite_store.ts");
  return new SqliteStore(path, retention);
}

/**
 * Opens the relay's NATS JetStream stream (creating it when missing) and reads its history.
 * @throws {EngineUnavailableError} when the engine does not answer or the tail does not catch up
 */
export async function openJetStreamStore(o: JetStreamStoreOptions): Promise<JetStreamStore> {
  const { openJetStreamStore } = await import("./jetstream_store.ts");
  return await openJetStreamStore(o);
}

/**
 * Starts the main isolate's relay (the sequencer) and `cluster.workers` worker isolates on the
 * same port.
 * @throws {Error} when a worker cannot start (the main isolate's relay is closed again)
 */
export async function startRelayCluster(
  opts: RelayServerOptions,
  cluster: RelayClusterOptions,
): Promise<Service> {
  const { startRelayCluster } = await import("./cluster.ts");
  return await startRelayCluster(opts, cluster);
}

/**
 * Starts a worker isolate's relay: the same routes and bounds on the same port, its log the main
 * isolate's.
 * @throws {Error} when the main isolate does not answer the snapshot
 */
export async function startRelayWorker(
  opts: Omit<RelayServerOptions, "store">,
  init: RelayWorkerInit,
  main: Channel,
): Promise<Service> {
  const { startRelayWorker } = await import("./cluster.ts");
  return await startRelayWorker(opts, init, main);
}
