/**
 * `--workers N`: one service served by N isolates of one process on one port (SO_REUSEPORT).
 * The main isolate serves too and owns what must be single; workers talk to it over channels.
 *
 * @example
 * ```ts
 * const pool = await startWorkers({ count: 1, module, service: "sidecar", log, init, handlers, closeTimeoutMs: 5_000 });
 * await pool.close();
 * ```
 * @module
 */
export {
  CallTimeoutError,
  Channel,
  DEFAULT_CALL_TIMEOUT_MS,
  type Endpoint,
  type Handler,
} from "./channel.ts";
export {
  MAX_WORKERS,
  type PerWorkerSeries,
  sharedCounter,
  totalMetrics,
  workerCount,
  workersField,
  workersFieldFixed,
} from "./count.ts";
export {
  DEFAULT_WORKER_START_TIMEOUT_MS,
  startWorkers,
  type WorkerPool,
  type WorkerPoolOptions,
} from "./pool.ts";
export { type MainService, serveOnWorkers, type ServeOnWorkersOptions } from "./serve.ts";
export { serveWorker, type WorkerService } from "./worker.ts";
