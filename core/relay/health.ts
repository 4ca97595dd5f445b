/** The relay's `/health` body: `degraded` while its store cannot take a publish. @module */
import { type ComponentHealth, serviceHealth } from "../http/mod.ts";
import { formatPosition } from "./position.ts";
import { type AnyRelayStore, isRemoteStore } from "./store.ts";

/**
 * What `/health` reports of the store: a shared engine's reachability, why its tail cannot read
 * the stream, and why the last publish could not be written (a local store's write, a stream
 * that refuses every publish).
 */
export function storeHealth(
  store: AnyRelayStore,
  engine: "connected" | "unreachable" | undefined,
): ComponentHealth {
  if (engine === "unreachable") {
    return { ok: false, engine, reason: "the relay's engine is unreachable" };
  }
  const failed = store.writeError;
  const shown = engine === undefined ? {} : { engine };
  const tail = isRemoteStore(store) ? store.tailError : undefined;
  if (tail !== undefined) return { ok: false, ...shown, reason: `cannot read the stream: ${tail}` };
  return failed === undefined
    ? { ok: true, ...shown }
    : { ok: false, ...shown, reason: `cannot write: ${failed}` };
}

/**
 * The relay's `/health`: `ok`, or `degraded` with the store's reason (an unreachable engine, a
 * local store that could not write the last publish), plus its position and subscribers.
 * @example
 * ```ts
 * relayHealth(new MemoryStore(retention), undefined, 0).status; // "ok"
 * ```
 */
export function relayHealth(
  store: AnyRelayStore,
  engine: "connected" | "unreachable" | undefined,
  subscribers: number,
): Record<string, unknown> {
  return serviceHealth("relay", { store: storeHealth(store, engine) }, {
    epoch: store.epoch,
    last_id: formatPosition(store.epoch, store.lastSeq),
    subscribers,
    ...(engine ? { engine } : {}),
  });
}
