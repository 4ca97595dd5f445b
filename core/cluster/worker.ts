/**
 * A worker isolate's side of `--workers`: waits for the main isolate's `start`, runs what it
 * says, reports a failure of what runs, and drains it on `close`.
 * @module
 */
import { errorMessage } from "../errors/mod.ts";
import { Channel, type Endpoint } from "./channel.ts";

/** What a worker runs: something that can fail and be drained. */
export interface WorkerService {
  failed: Promise<Error>;
  close(): Promise<void>;
}

/**
 * Serves the main isolate from a worker's entry module: `start(init, main)` runs once when the
 * main isolate asks; its answer tells the main isolate the worker serves.
 * @example
 * ```ts
 * serveWorker(async (init, main) => await startMyServer(init, main));
 * ```
 */
export function serveWorker(
  start: (init: unknown, main: Channel) => Promise<WorkerService>,
): void {
  // A worker's global scope has postMessage and message events, as the Endpoint says.
  const main = new Channel(self as unknown as Endpoint);
  let running: WorkerService | undefined;
  main.on("start", async (init) => {
    running = await start(init, main);
    running.failed.then((err) => main.post("failed", errorMessage(err)));
    return true;
  });
  main.on("close", async () => {
    await running?.close();
    return true;
  });
}
