/**
 * Stopping services on SIGTERM, SIGINT or SIGHUP: drain, then exit 0; a second signal exits at
 * once.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import type { Service } from "./types.ts";

/**
 * The signals that stop a service gracefully. SIGHUP too: a terminal that hangs up (a closed
 * session), `docker kill -s HUP` or a habit of sending it for a reload would otherwise kill the
 * process by the signal's default action, with no drain and the buffered events dropped. Settings
 * are read at start only (a revocation list file is re-read on change).
 */
export const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGHUP"];

/**
 * Stops `services` on SIGTERM, SIGINT or SIGHUP (drain, then exit 0). A second signal exits at
 * once.
 * Returns a function that removes the handlers.
 * @example
 * ```ts
 * const remove = closeOnSignal([svc], log);
 * ```
 */
export function closeOnSignal(
  services: Array<Pick<Service, "close">>,
  log: Logger,
  exit: (code: number) => void = Deno.exit,
): () => void {
  let stopping = false;
  const handler = () => {
    if (stopping) return exit(0);
    stopping = true;
    log.info("shutting down");
    Promise.allSettled(services.map((s) => s.close())).then(() => {
      log.info("stopped");
      exit(0);
    });
  };
  for (const s of STOP_SIGNALS) Deno.addSignalListener(s, handler);
  return () => {
    for (const s of STOP_SIGNALS) Deno.removeSignalListener(s, handler);
  };
}
