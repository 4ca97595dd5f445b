/**
 * What every service subcommand does the same way: parse config, make a logger, start the
 * service, stop it on SIGTERM/SIGINT.
 * @module
 */
import type { Config, DeepPartial, Infer, Shape } from "../core/config/mod.ts";
import { closeOnSignal, type Service } from "../core/http/mod.ts";
import { createLogger, type Level, type Logger } from "../core/log/mod.ts";
import type { Command } from "./mod.ts";

/** Writes text to stdout (usage, results). */
export function print(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n"));
}

/** Writes text to stderr (errors). */
export function printErr(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n"));
}

/** Logger for a service config that has a `log_level` field. */
export function serviceLogger(service: string, config: { log_level?: Level }): Logger {
  return createLogger({ service, level: config.log_level ?? "info" });
}

/** Signals that stop a service gracefully. */
const STOP_SIGNALS: Deno.Signal[] = ["SIGTERM", "SIGINT"];

/** A service's start function: config in, running service out. */
export type StartFn<S extends Shape> = (
  config: Infer<S>,
  deps?: { log?: Logger },
) => Promise<Service>;

/**
 * A Command that parses `spec`, starts the service and waits for a signal.
 * `resolve` lets `iatp up` and tests start it in-process from a partial config.
 */
export function serviceCommand<S extends Shape>(
  spec: Config<S>,
  start: StartFn<S>,
): Command & {
  spec: Config<S>;
  start: StartFn<S>;
  resolve(overrides?: DeepPartial<Infer<S>>): Infer<S>;
} {
  return {
    spec,
    start,
    resolve: (o) => spec.resolve(o),
    usage: () => spec.usage(),
    async run(argv) {
      const loaded = spec.parse(argv);
      if (loaded.help) {
        print(spec.usage());
        return 0;
      }
      const config = loaded.config as Infer<S> & { log_level?: Level };
      const log = serviceLogger(spec.spec.command, config);
      // A service listens before start() returns: a signal in that window is held, not fatal.
      let early = false;
      const hold = () => early = true;
      for (const s of STOP_SIGNALS) Deno.addSignalListener(s, hold);
      let service: Service;
      const { promise, resolve } = Promise.withResolvers<number>();
      try {
        service = await start(loaded.config, { log });
        closeOnSignal([service], log, (code) => resolve(code));
      } finally {
        for (const s of STOP_SIGNALS) Deno.removeSignalListener(s, hold);
      }
      if (early) {
        log.info("shutting down");
        await service.close();
        return 0;
      }
      return await promise;
    },
  };
}
