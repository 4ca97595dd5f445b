/**
 * The NATS client packages, imported by the first connection: a process configured without a
 * `nats://` URL never loads them (they add about 15 MB to an idle process). Until then no value
 * of theirs can exist, so the checks on their errors answer "not one of those".
 * @module
 */
import type * as JetStream from "@nats-io/jetstream";
import type * as Transport from "@nats-io/transport-node";
import type * as Node from "@nats-io/transport-node/lib/node_transport.js";
import type { KV, KvOptions } from "@nats-io/kv";

/** The loaded packages. */
export interface NatsClient {
  transport: typeof Transport;
  jetstream: typeof JetStream;
  /** The client's socket transport (its class, which core/nats/guard.ts extends). */
  node: typeof Node;
}

let loaded: NatsClient | undefined;

/**
 * Imports the client packages once (later calls return the same ones).
 *
 * @example
 * ```ts
 * const { transport } = await loadNatsClient();
 * const hdrs = transport.headers();
 * ```
 * @throws {Error} when the packages cannot be loaded (a broken installation)
 */
export async function loadNatsClient(): Promise<NatsClient> {
  if (loaded) return loaded;
  const [transport, jetstream, node] = await Promise.all([
    import("@nats-io/transport-node"),
    import("@nats-io/jetstream"),
    import("@nats-io/transport-node/lib/node_transport.js"),
  ]);
  loaded = { transport, jetstream, node };
  return loaded;
}

/**
 * The packages when a connection has loaded them, else undefined.
 *
 * @example
 * ```ts
 * loadedNatsClient() === undefined; // true in a process that never connected
 * ```
 */
export function loadedNatsClient(): NatsClient | undefined {
  return loaded;
}

/**
 * The code of a JetStream API refusal (e.g. 10071, wrong last sequence), or undefined for any
 * other error.
 *
 * @example
 * ```ts
 * jetStreamApiCode(new Error("bad input")); // undefined
 * ```
 */
export function jetStreamApiCode(err: unknown): number | undefined {
  const js = loaded?.jetstream;
  return js && err instanceof js.JetStreamApiError ? err.code : undefined;
}

/**
 * Creates the KV bucket, or binds to it when it exists.
 *
 * @example
 * ```ts
 * const kv = await openKv(engine.js, "decisions", { history: 1, replicas: 1 });
 * ```
 * @throws {Error} when the engine refuses the bucket
 */
export async function openKv(
  js: JetStream.JetStreamClient,
  bucket: string,
  opts: Partial<KvOptions>,
): Promise<KV> {
  const { Kvm } = await import("@nats-io/kv");
  return await new Kvm(js).create(bucket, opts);
}
