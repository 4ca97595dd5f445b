/**
 * The sidecar on several isolates (`--workers N`): the main isolate serves the port like every
 * worker and owns what a client can observe across connections: the one flight recorder (ring,
 * durable and Redis stores, relay and audit fan-out) and the signing key. A worker scrubs and
 * stamps its records itself and posts them to the main isolate in batches (nothing on the request
 * path waits for another isolate); a `/trace/{id}` lookup on any isolate first has every worker
 * post what it holds, so it finds every record of a request already answered, whichever isolate
 * served it. `/metrics` on any isolate adds up every isolate's numbers.
 * @module
 */
import {
  type Channel,
  sharedCounter,
  startWorkers,
  totalMetrics,
  type WorkerPool,
} from "../cluster/mod.ts";
import { encodeBase64 } from "../encoding/mod.ts";
import type { Service } from "../http/mod.ts";
import type { TraceRecord } from "../recorder/mod.ts";
import {
  createRecorder,
  type SidecarOptions,
  startSidecarServer,
  type TraceBook,
} from "./server.ts";
import { RecordLink } from "./record_link.ts";

/** Longest a lookup waits for the workers to post the records they hold. */
const FLUSH_TIMEOUT_MS = 2_000;

/** How the main isolate starts its workers. */
export interface SidecarClusterOptions {
  /** Worker isolates besides the main one (`--workers` minus one). */
  workers: number;
  /** The worker entry module (it calls `serveWorker` and {@linkcode startSidecarWorker}). */
  module: URL;
  /** The data a worker starts with, given the port the main isolate bound and the signing seed. */
  workerInit(port: number, signingSeed: string, index: number): unknown;
}

/** What the main isolate shares with every worker (SharedArrayBuffer-backed). */
export interface SidecarWorkerShared {
  /** Open connections of the whole service. */
  connections: Int32Array;
}

/** Texts of the answers that came. */
function texts(results: PromiseSettledResult<unknown>[]): string[] {
  return results.flatMap((r) => r.status === "fulfilled" ? [String(r.value)] : []);
}

/**
 * Starts the main isolate's sidecar and the workers on the same port.
 * @throws {ConfigError} as {@linkcode startSidecarServer}; {Error} when a worker cannot start
 */
export async function startSidecarCluster(
  opts: SidecarOptions,
  cluster: SidecarClusterOptions,
): Promise<Service> {
  const { log } = opts;
  let seed = opts.identity.signingSeed;
  if (!seed) {
    // One key for every isolate, or each would sign the manifest with its own.
    seed = encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
    log.warn("signing_key not set: generated an ephemeral Ed25519 key shared by every worker");
  }
  const options = { ...opts, identity: { ...opts.identity, signingSeed: seed } };
  const { recorder, book } = await createRecorder(options);
  let pool: WorkerPool | undefined;
  let ownMetrics: () => Promise<string> = () => Promise.resolve("");
  const total = async () =>
    totalMetrics("sidecar", [
      await ownMetrics(),
      ...texts(await pool?.callAll("own-metrics") ?? []),
    ]);
  const mainBook: TraceBook = {
    record: book.record,
    lookup: async (id) => {
      await pool?.callAll("flush", undefined, FLUSH_TIMEOUT_MS);
      return await book.lookup(id);
    },
    close: async () => {
      await pool?.close(); // the workers' last records arrive before the recorder closes
      await book.close();
    },
  };
  const shared: SidecarWorkerShared = { connections: sharedCounter() };
  const svc = await startSidecarServer({
    ...options,
    role: {
      trace: mainBook,
      metricsText: total,
      ownMetrics: (read) => ownMetrics = read,
      connections: shared.connections,
    },
  });
  const port = Number(new URL(svc.url).port);
  try {
    pool = await startWorkers({
      count: cluster.workers,
      module: cluster.module,
      service: "sidecar",
      log,
      init: (i) => ({ ...cluster.workerInit(port, seed, i) as object, shared }),
      closeTimeoutMs: opts.edge.drainTimeoutMs ?? 10_000,
      handlers: {
        records: (batch, _i, worker) => {
          for (const rec of batch as TraceRecord[]) recorder.add(rec);
          worker.post("acked", (batch as TraceRecord[]).length);
        },
        lookup: (id) => mainBook.lookup(String(id)),
        "total-metrics": () => total(),
      },
    });
  } catch (err) {
    await svc.close();
    throw err;
  }
  log.info("sidecar workers serving", { workers: cluster.workers + 1, port });
  const running = pool;
  let closing: Promise<void> | undefined;
  return {
    url: svc.url,
    failed: Promise.race([svc.failed, running.failed]),
    close: () =>
      closing ??= (async () => {
        // Every isolate drains at once; the recorder closes after the last worker is done.
        await Promise.all([running.close(), svc.close()]);
      })(),
  };
}

/**
 * Starts a worker isolate's sidecar: the same edge and checks on the same port, its records
 * posted to the main isolate, lookups and `/metrics` answered there.
 * @throws {ConfigError} as {@linkcode startSidecarServer}
 */
export async function startSidecarWorker(
  opts: SidecarOptions,
  shared: SidecarWorkerShared,
  main: Channel,
): Promise<Service> {
  const link = new RecordLink(main, opts.log);
  let own: () => Promise<string> = () => Promise.resolve("");
  main.on("own-metrics", () => own());
  return await startSidecarServer({
    ...opts,
    role: {
      trace: link,
      metricsText: async () => String(await main.call("total-metrics")),
      ownMetrics: (read) => own = read,
      connections: shared.connections,
    },
  });
}
