/**
 * The sidecar on several isolates (`--workers N`): every isolate serves the port, runs the whole
 * request path and keeps its own flight-recorder ring, so no request waits on another isolate.
 * The main isolate owns what must be single: the signing key, the durable and Redis stores and
 * the relay and audit fan-out (workers post their records to it, scrubbed, in batches, only when
 * one of those is configured), and the answer to `/trace/{id}` on any isolate: every isolate's
 * ring (then the stores), so a lookup finds every record of a request already answered, whichever
 * isolate served it. `/metrics` on any isolate adds up every isolate's numbers.
 * @module
 */
import {
  type Channel,
  serveOnWorkers,
  sharedCounter,
  totalMetrics,
  type WorkerPool,
} from "../cluster/mod.ts";
import { every } from "../async/mod.ts";
import { encodeBase64 } from "../encoding/mod.ts";
import type { Service } from "../http/mod.ts";
import type { TraceRecord } from "../recorder/mod.ts";
import {
  createRecorder,
  type SidecarOptions,
  startSidecarServer,
  type TraceBook,
} from "./server.ts";
import { payloadBytesFor } from "./record.ts";
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

/** What the main isolate shares with every worker. */
export interface SidecarWorkerShared {
  /** Open connections of the whole service (SharedArrayBuffer-backed). */
  connections: Int32Array;
  /** Whether records are handed on (durable store, Redis, relay, audit): workers post theirs. */
  handOn: boolean;
}

/** How often the main isolate tells the workers why records are not handed on. */
const PROBLEM_TELL_MS = 1_000;

/** Records of several rings in time order (stable: one ring's order is kept). */
function byTime(records: TraceRecord[]): TraceRecord[] {
  return records.sort((a, b) => a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0);
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
  // Workers post their records only when this isolate hands records on to something.
  const handOn = Boolean(
    opts.recorder.file || opts.recorder.shared || opts.events.relayUrl || opts.events.auditUrl,
  );
  /** The records of a trace in every isolate's ring. */
  const inMemory = async (id: string) => {
    const theirs = await pool?.callAll("trace", id, FLUSH_TIMEOUT_MS) ?? [];
    return byTime([
      ...recorder.inMemory(id),
      ...theirs.flatMap((r) => r.status === "fulfilled" ? r.value as TraceRecord[] : []),
    ]);
  };
  // Every second, the workers learn why records do not reach the relay or the ledger (their
  // `/health` says it too), while that is so and once it ends.
  let told: string | undefined;
  const teller = opts.events.relayUrl || opts.events.auditUrl
    ? every(PROBLEM_TELL_MS, () => {
      const now = book.problem();
      if (now !== undefined || told !== undefined) pool?.postAll("problem", now ?? "");
      told = now;
    })
    : undefined;
  const mainBook: TraceBook = {
    record: book.record,
    readsAtOnce: book.readsAtOnce,
    problem: book.problem,
    lookup: async (id) => {
      // What the workers posted reaches the shared and durable stores before they are asked.
      if (handOn) await pool?.callAll("flush", undefined, FLUSH_TIMEOUT_MS);
      if (opts.recorder.shared) {
        let found: TraceRecord[];
        try {
          found = await recorder.lookup(id);
        } catch (err) {
          const own = await inMemory(id);
          if (own.length > 0) return own;
          throw err;
        }
        if (found.length > 0) return found;
      }
      const own = await inMemory(id);
      return own.length > 0 ? own : recorder.trace(id);
    },
    close: async () => {
      teller?.cancel();
      await pool?.close(); // the workers' last records arrive before the recorder closes
      await book.close();
    },
  };
  const shared: SidecarWorkerShared = { connections: sharedCounter(), handOn };
  const svc = await startSidecarServer({
    ...options,
    role: {
      claimPort: true,
      trace: mainBook,
      metricsText: total,
      ownMetrics: (read) => ownMetrics = read,
      connections: shared.connections,
    },
  });
  // The recorder closes after the last worker is done (mainBook.close drains the pool first).
  return await serveOnWorkers(svc, {
    count: cluster.workers,
    module: cluster.module,
    service: "sidecar",
    log,
    init: (port, i) => ({ ...cluster.workerInit(port, seed, i) as object, shared }),
    closeTimeoutMs: opts.edge.drainTimeoutMs ?? 10_000,
    handlers: {
      records: (batch, _i, worker) => {
        for (const rec of batch as TraceRecord[]) recorder.handOn(rec);
        worker.post("acked", (batch as TraceRecord[]).length);
      },
      lookup: (id) => mainBook.lookup(String(id)),
      "total-metrics": () => total(),
    },
  }, (p) => pool = p);
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
  const link = new RecordLink(main, opts.log, {
    capacity: opts.recorder.capacity,
    payloadBytes: payloadBytesFor(opts.proxy.tracePayloadChars),
  }, shared.handOn);
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
