/**
 * The relay on several isolates (`--workers N`): one sequence. The main isolate serves the port
 * like every worker and is the sequencer: it owns the store (memory, SQLite or NATS JetStream),
 * stores every publish (a worker's arrives as a call), and sends every stored event, in sequence
 * order, to every worker, whose hub pushes it to its own subscribers. A worker keeps the index a
 * JetStream replica keeps (see isolate_store.ts), so subscribing, resuming by `Last-Event-ID`
 * (replay from history, then live, with no gap and no duplicate) and `/topics` work on it as on a
 * replica. The subscriber bound counts every isolate's subscribers in one shared counter;
 * `/metrics` on any isolate adds up every isolate's numbers.
 * @module
 */
import { every } from "../async/mod.ts";
import {
  type Channel,
  serveOnWorkers,
  sharedCounter,
  totalMetrics,
  type WorkerPool,
} from "../cluster/mod.ts";
import { HttpError, UnavailableError } from "../errors/mod.ts";
import type { Service } from "../http/mod.ts";
import { isEngineOutage } from "../nats/mod.ts";
import { TopicFilter } from "../topic/mod.ts";
import {
  ENGINE_DOWN,
  ENGINE_NONE,
  ENGINE_SLOT,
  ENGINE_UP,
  type IsolatePublish,
  IsolateStore,
  type RelaySnapshot,
  TAIL_ERROR,
  WRITE_ERROR,
} from "./isolate_store.ts";
import { Broadcast, TAKEN } from "./broadcast.ts";
import { decodePublish } from "./isolate_wire.ts";
import { DEFAULT_BACKLOG_BYTES } from "./hub.ts";
import { StreamRefusedError } from "./js_refusal.ts";
import { PublishBusyError } from "./js_writer.ts";
import { idempotencyConflict, topicLimitAnswer } from "./publish.ts";
import { IdempotencyConflictError, type Stored } from "./idempotency.ts";
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  type PublishFn,
  type RelayServerOptions,
  startRelayServer,
} from "./server.ts";
import {
  type AnyRelayStore,
  isRemoteStore,
  type Retention,
  type StoredEvent,
  TopicLimitError,
} from "./store.ts";

/** How often the main isolate notes whether its engine is reachable, for the workers. */
const ENGINE_POLL_MS = 1_000;
/** Events read from the store per step of a snapshot. */
const SNAPSHOT_BATCH = 4_096;
const ALL = new TopicFilter(["*"]);
/** Subscribers of each isolate, in `/metrics`. */
const SUBSCRIBERS = {
  name: "iatp_worker_relay_subscribers",
  help: "Open SSE subscriptions on each isolate of the relay (--workers).",
  from: "iatp_relay_subscribers",
};

/** How the main isolate starts its workers. */
export interface RelayClusterOptions {
  /** Worker isolates besides the main one (`--workers` minus one). */
  workers: number;
  /** The worker entry module (it calls `serveWorker` and {@linkcode startRelayWorker}). */
  module: URL;
  /** The data a worker starts with, given the port the main isolate bound. */
  workerInit(port: number, index: number): unknown;
  /** The store's retention (a worker's index mirrors it). */
  retention: Retention;
  /** Events whose data a worker keeps for replays (older ones are read from the main isolate). */
  cacheEvents: number;
}

/** What a worker starts with besides its own settings. */
export interface RelayWorkerInit {
  /** The state shared by every isolate (see `RelayRole.shared`). */
  shared: Int32Array;
  /** Open connections of the whole service. */
  connections: Int32Array;
  retention: Retention;
  cacheEvents: number;
}

/** Reads every retained event up to `upto`, ascending. */
async function history(store: AnyRelayStore, upto: number): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for (let after = 0; after < upto;) {
    const got = await store.read(ALL, after, upto, SNAPSHOT_BATCH);
    if (got.length === 0) break;
    out.push(...got);
    after = got[got.length - 1].seq;
  }
  return out;
}

/** The engine state for /health, as the workers read it. */
function engineState(store: AnyRelayStore): number {
  return isRemoteStore(store) ? (store.available ? ENGINE_UP : ENGINE_DOWN) : ENGINE_NONE;
}

function engineName(state: number): "connected" | "unreachable" | undefined {
  return state === ENGINE_UP ? "connected" : state === ENGINE_DOWN ? "unreachable" : undefined;
}

/**
 * Starts the main isolate's relay (the sequencer) and the workers on the same port.
 * @throws {Error} when a worker cannot start (the main isolate's relay is closed again)
 */
export async function startRelayCluster(
  opts: RelayServerOptions,
  cluster: RelayClusterOptions,
): Promise<Service> {
  const { store, log } = opts;
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const connections = sharedCounter();
  Atomics.store(shared, ENGINE_SLOT, engineState(store));
  const broadcast = new Broadcast(
    store.topics(),
    opts.backlogBytes ?? DEFAULT_BACKLOG_BYTES,
    opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
  );
  let pool: WorkerPool | undefined;
  let publish: PublishFn | undefined;
  let ownMetrics: () => Promise<string> = () => Promise.resolve("");
  const total = async () =>
    totalMetrics("relay", [
      await ownMetrics(),
      ...(await pool?.callAll("own-metrics") ?? []).flatMap((r) =>
        r.status === "fulfilled" ? [String(r.value)] : []
      ),
    ], [SUBSCRIBERS]);
  let epoch = store.epoch;
  /** A stream created again: the workers follow its epoch before its first event. */
  const follow = () => {
    if (store.epoch === epoch) return;
    epoch = store.epoch;
    broadcast.newEpoch(epoch);
  };
  // On core/async's timers: Deno's global setInterval is Node's, whose first use loads its Node layer.
  // The tail's failure goes to the workers' /health each round while there is one, and once
  // after (so a worker started meanwhile learns it within a round).
  let tailPosted: string | undefined;
  // So does the store's write error (a full stream or disk refuses every isolate's publishes,
  // whichever isolate took them), and at once when a worker's publish changed it.
  let writePosted: string | undefined;
  const postWriteError = (always: boolean) => {
    const why = store.writeError;
    if (why === writePosted && !(always && why !== undefined)) return;
    pool?.postAll(WRITE_ERROR, why ?? "");
    writePosted = why;
  };
  const poll = every(ENGINE_POLL_MS, () => {
    Atomics.store(shared, ENGINE_SLOT, engineState(store));
    follow();
    const tail = isRemoteStore(store) ? store.tailError : undefined;
    if (tail !== undefined || tailPosted !== undefined) pool?.postAll(TAIL_ERROR, tail ?? "");
    tailPosted = tail;
    postWriteError(true);
  });
  const svc = await startRelayServer({
    ...opts,
    role: {
      claimPort: true,
      shared,
      engine: () => engineName(engineState(store)),
      onStored: (e, unread) => {
        follow();
        broadcast.add(e, unread);
      },
      onExpired: () => broadcast.retain(store.topics()),
      admit: () => broadcast.admit(),
      publisher: (fn) => publish = fn,
      beforeStoreClose: async () => {
        poll.cancel();
        await pool?.close(); // workers drain first: their publishes still reach the store
      },
      metricsText: total,
      ownMetrics: (read) => ownMetrics = read,
      connections,
    },
  }).catch((err) => {
    poll.cancel();
    throw err;
  });
  const init: RelayWorkerInit = {
    shared,
    connections,
    retention: cluster.retention,
    cacheEvents: cluster.cacheEvents,
  };
  // The main relay's close drains the workers first (beforeStoreClose), then closes the store.
  return await serveOnWorkers(svc, {
    count: cluster.workers,
    module: cluster.module,
    service: "relay",
    log,
    init: (port, i) => ({ ...cluster.workerInit(port, i) as object, relay: init }),
    closeTimeoutMs: opts.edge?.drainTimeoutMs ?? 10_000,
    handlers: {
      snapshot: (_d, _i, worker) => snapshot(store, broadcast, worker, cluster.cacheEvents),
      publish: async (d) => {
        try {
          return await publishFor(store, publish, decodePublish(d as string));
        } finally {
          postWriteError(false);
        }
      },
      get: (d) => getEvents(store, d as Array<{ topic: string; seq: number }>),
      // The engine's newest sequence, that the workers' tails wait for (the main isolate's own
      // tail may not have read it yet); the main isolate's when the engine is out of reach.
      "last-seq": async () => {
        if (!isRemoteStore(store) || !store.available) return store.lastSeq;
        try {
          return await store.engineLastSeq();
        } catch (err) {
          if (isEngineOutage(err)) return store.lastSeq;
          throw err;
        }
      },
      [TAKEN]: (_d, _i, worker) => broadcast.taken(worker),
      "total-metrics": () => total(),
    },
  }, (p) => pool = p);
}

/**
 * A worker's starting point: taken while no event can be stored in between (the reads of a
 * local store are synchronous; a remote store's newer events are sent to the worker from here
 * on and held by it until the snapshot is applied).
 */
async function snapshot(
  store: AnyRelayStore,
  broadcast: Broadcast,
  worker: Channel,
  cacheEvents: number,
): Promise<RelaySnapshot> {
  const upto = store.lastSeq;
  const topics = store.topics().map((t) => ({
    topic: t.topic,
    lastSeq: t.lastSeq,
    truncatedThrough: t.truncatedThrough,
  }));
  const freed = store.freed();
  broadcast.join(worker);
  const events = await history(store, upto);
  // Only the newest events stay in a worker's cache: the older ones go without their data.
  const bare = events.length - cacheEvents;
  for (let i = 0; i < bare; i++) events[i] = { ...events[i], data: "" };
  return { epoch: store.epoch, upto, events, topics, freed };
}

/**
 * Stores a worker's publish.
 * @throws {HttpError} the answer to a {@linkcode TopicLimitError} (`topicLimitAnswer`: its status
 * and fields cross to the worker), or to a {@linkcode StreamRefusedError} (its status, message and
 * fields: the worker rebuilds it, counts and answers it); {UnavailableError} while the engine is
 * out of reach or busy
 */
async function publishFor(
  store: AnyRelayStore,
  publish: PublishFn | undefined,
  p: IsolatePublish,
): Promise<number | Stored> {
  if (!publish) throw new UnavailableError("the relay is starting", 1);
  if (isRemoteStore(store) && !store.available) {
    throw new UnavailableError("the relay's engine is unreachable", 1);
  }
  try {
    const s = await publish(p.topic, p.eventId, p.json, p.publisher, p.digest);
    // A keyed publish is told whether it was stored before; others get the sequence alone.
    return p.digest === undefined ? s.seq : s;
  } catch (err) {
    if (err instanceof TopicLimitError) throw topicLimitAnswer(err);
    if (err instanceof IdempotencyConflictError) throw idempotencyConflict(err);
    if (err instanceof StreamRefusedError) {
      throw new HttpError(err.status, err.message, err.fields, { cause: err });
    }
    if (err instanceof PublishBusyError || isEngineOutage(err)) {
      throw new UnavailableError("the relay's engine did not acknowledge the event; retry", 1, {
        cause: err,
      });
    }
    throw err;
  }
}

/** The events a worker no longer caches (null for one the store no longer holds). */
async function getEvents(
  store: AnyRelayStore,
  refs: Array<{ topic: string; seq: number }>,
): Promise<Array<StoredEvent | null>> {
  const out: Array<StoredEvent | null> = [];
  for (const r of refs) {
    const got = await store.read(new TopicFilter([r.topic]), r.seq - 1, r.seq, 1);
    out.push(got[0]?.seq === r.seq ? got[0] : null);
  }
  return out;
}

/**
 * Starts a worker isolate's relay: the same routes and bounds on the same port, its log the
 * main isolate's (see isolate_store.ts).
 * @throws {Error} when the main isolate does not answer the snapshot
 */
export async function startRelayWorker(
  opts: Omit<RelayServerOptions, "store">,
  init: RelayWorkerInit,
  main: Channel,
): Promise<Service> {
  const store = await IsolateStore.open(main, init.retention, init.cacheEvents, init.shared);
  let own: () => Promise<string> = () => Promise.resolve("");
  main.on("own-metrics", () => own());
  return await startRelayServer({
    ...opts,
    store,
    role: {
      shared: init.shared,
      engine: () => engineName(Atomics.load(init.shared, ENGINE_SLOT)),
      metricsText: async () => String(await main.call("total-metrics")),
      ownMetrics: (read) => own = read,
      connections: init.connections,
    },
  });
}
