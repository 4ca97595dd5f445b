/**
 * Stopping services on SIGTERM/SIGINT: drain, then exit 0; a second signal exits at once.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import type { Service } from "./types.ts";

/**
 * Stops `services` on SIGTERM or SIGINT (drain, then exit 0). A second signal exits at once.
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
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const s of signals) Deno.addSignalListener(s, handler);
  return () => {
    for (const s of signals) Deno.removeSignalListener(s, handler);
  };
}
