/**
 * The main isolate's side of `--workers`: starts the worker isolates (Deno Workers, each on its
 * own thread, in this process, with this process's permissions), waits until each serves, takes
 * their calls, notices one that fails (the service then fails and its command exits non-zero for
 * systemd or Docker to restart it) and drains them all on close.
 * @module
 */
import { settledWithin } from "../async/mod.ts";
import { errorMessage } from "../errors/mod.ts";
import type { Logger } from "../log/mod.ts";
import { Channel } from "./channel.ts";

/** Longest a worker may take to start serving. */
export const DEFAULT_WORKER_START_TIMEOUT_MS = 30_000;

/** Options of {@linkcode startWorkers}. */
export interface WorkerPoolOptions {
  /** Worker isolates to start (the main isolate serves too: `--workers N` starts N-1). */
  count: number;
  /** The worker's entry module (it calls `serveWorker`). */
  module: URL;
  /** Names the threads (`<service>-worker-<i>`) and the log lines. */
  service: string;
  log: Logger;
  /** The data worker `index` (1..count) starts with. */
  init(index: number): unknown;
  /** What a worker may call or post, by kind; `index` and `channel` say which worker. */
  handlers: Record<string, (data: unknown, index: number, channel: Channel) => unknown>;
  /** @default DEFAULT_WORKER_START_TIMEOUT_MS */
  startTimeoutMs?: number;
  /** Longest close() waits for the workers to drain (the service's drain timeout). */
  closeTimeoutMs: number;
}

/** Running workers. */
export interface WorkerPool {
  /** One channel per worker, worker 1 first. */
  readonly channels: readonly Channel[];
  /** Resolves with the error once a worker failed (never resolves otherwise). */
  readonly failed: Promise<Error>;
  /** Calls every worker; each answer, or the error it gave. */
  callAll(
    kind: string,
    data?: unknown,
    timeoutMs?: number,
  ): Promise<PromiseSettledResult<unknown>[]>;
  /** Posts to every worker. */
  postAll(kind: string, data?: unknown): void;
  /** Drains every worker (each closes its server), then ends their threads. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the workers; resolves once each serves.
 * @throws {Error} naming the worker when one fails to start (the others are stopped).
 */
export async function startWorkers(opts: WorkerPoolOptions): Promise<WorkerPool> {
  const failure = Promise.withResolvers<Error>();
  let closing: Promise<void> | undefined;
  const workers: Worker[] = [];
  const channels: Channel[] = [];
  const fail = (index: number, message: string) => {
    if (closing) return;
    const err = new Error(`${opts.service} worker ${index} failed: ${message}`);
    opts.log.error("worker failed; the service stops", { worker: index, err: message });
    for (const ch of channels) ch.abandon(err);
    failure.resolve(err);
  };
  for (let i = 1; i <= opts.count; i++) {
    const w = new Worker(opts.module, { type: "module", name: `${opts.service}-worker-${i}` });
    w.addEventListener("error", (e) => {
      e.preventDefault(); // handled here: the process stays up long enough to drain the rest
      fail(i, e.message);
    });
    w.addEventListener("messageerror", () => fail(i, "a message could not be read"));
    const ch = new Channel(w);
    ch.on("failed", (message) => fail(i, String(message)));
    for (const [kind, h] of Object.entries(opts.handlers)) ch.on(kind, (d) => h(d, i, ch));
    workers.push(w);
    channels.push(ch);
  }
  const callAll = (kind: string, data?: unknown, timeoutMs?: number) =>
    Promise.allSettled(channels.map((ch) => ch.call(kind, data, timeoutMs)));
  const close = () =>
    closing ??= (async () => {
      await settledWithin(
        callAll("close", undefined, opts.closeTimeoutMs + 1_000),
        opts.closeTimeoutMs + 2_000,
      );
      for (const w of workers) w.terminate();
    })();
  const timeout = opts.startTimeoutMs ?? DEFAULT_WORKER_START_TIMEOUT_MS;
  const started = Promise.all(channels.map((ch, i) => ch.call("start", opts.init(i + 1), timeout)));
  try {
    await Promise.race([started, failure.promise.then((err) => Promise.reject(err))]);
  } catch (err) {
    closing = Promise.resolve();
    for (const w of workers) w.terminate();
    throw new Error(`${opts.service} workers did not start: ${errorMessage(err)}`, { cause: err });
  }
  return {
    channels,
    failed: failure.promise,
    callAll,
    postAll: (kind, data) => {
      for (const ch of channels) ch.post(kind, data);
    },
    close,
  };
}
