/**
 * One service over its main isolate and its workers: starts the workers on the port the main
 * isolate already serves, and answers for both (one URL, one failure, one close).
 * @module
 */
import { startWorkers, type WorkerPool, type WorkerPoolOptions } from "./pool.ts";

/** What a server started in the main isolate gives (the shape of core/http's `Service`). */
export interface MainService {
  url: string;
  close(): Promise<void>;
  failed: Promise<Error>;
}

/** {@linkcode startWorkers}' options, with `init` also given the port the workers listen on. */
export interface ServeOnWorkersOptions extends Omit<WorkerPoolOptions, "init"> {
  init: (port: number, index: number) => unknown;
}

/**
 * Starts `opts.count` workers listening on `svc`'s port; `started` receives the pool before this
 * returns (the main isolate's own close hooks drain it). The service it returns fails when the
 * main server or any worker fails, and closes every isolate at once (once).
 * @throws {Error} when a worker does not start (the main server is closed first)
 * @example
 * ```ts
 * const both = await serveOnWorkers(svc, { count: 1, module, service: "relay", log, handlers: {},
 *   closeTimeoutMs: 5_000, init: (port, i) => ({ port, i }) }, (p) => pool = p);
 * await both.close();
 * ```
 */
export async function serveOnWorkers(
  svc: MainService,
  opts: ServeOnWorkersOptions,
  started: (pool: WorkerPool) => void = () => {},
): Promise<MainService> {
  const port = Number(new URL(svc.url).port);
  let pool: WorkerPool;
  try {
    pool = await startWorkers({ ...opts, init: (i) => opts.init(port, i) });
  } catch (err) {
    await svc.close();
    throw err;
  }
  started(pool);
  opts.log.info(`${opts.service} workers serving`, { workers: opts.count + 1, port });
  let closing: Promise<void> | undefined;
  return {
    url: svc.url,
    failed: Promise.race([svc.failed, pool.failed]),
    close: () => closing ??= Promise.all([pool.close(), svc.close()]).then(() => {}),
  };
}
