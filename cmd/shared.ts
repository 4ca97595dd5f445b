/**
 * What every service subcommand does the same way: parse config, make a logger, start the
 * service, stop it on SIGTERM/SIGINT.
 * @module
 */
import {
  type Config,
  type DeepPartial,
  explainStartFailure,
  type Infer,
  lateImport,
  type OpenFolder,
  type Shape,
  type SourceMap,
} from "../core/config/mod.ts";
import { closeOnSignal, type Service, STOP_SIGNALS } from "../core/http/mod.ts";
import { createLogger, LEVELS, type Logger, scrubString } from "../core/log/mod.ts";
import type { Command } from "./command.ts";

/** Writes text to stdout (usage, results). */
export function print(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n"));
}

/** Writes text to stderr (errors). */
export function printErr(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n"));
}

/** Exit code after an unhandled promise rejection (EX_SOFTWARE: an internal error). */
export const EXIT_UNHANDLED = 70;

/**
 * Installs the process-wide handler for promise rejections nobody handled: one scrubbed JSON
 * line on stderr, then exit {@linkcode EXIT_UNHANDLED}. Some task's state is unknown after
 * one, so the process stops and a supervisor restarts it from a known state.
 */
export function exitOnUnhandledRejection(exit: (code: number) => void = Deno.exit): void {
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    const reason = e.reason instanceof Error ? e.reason.stack ?? e.reason.message : e.reason;
    printErr(JSON.stringify({
      ts: new Date().toISOString(),
      level: "error",
      msg: "unhandled rejection; exiting",
      service: "iatp",
      fields: { reason: scrubString(String(reason)) },
    }));
    exit(EXIT_UNHANDLED);
  });
}

/** Logger at a config's `log_level`, or the agents' `logging.level` (`info` when it has neither). */
export function serviceLogger(service: string, config: object): Logger {
  const logging = "logging" in config ? config.logging : undefined;
  const named = "log_level" in config
    ? config.log_level
    : typeof logging === "object" && logging !== null && "level" in logging
    ? logging.level
    : undefined;
  const level = LEVELS.find((l) => l === named);
  return createLogger({ service, level: level ?? "info" });
}

/** Folders {@linkcode warnOpenFolder} warned of in this process (`iatp up` runs several services). */
const warnedFolders = new Set<string>();

/**
 * Warns of a data folder other users may read or enter (`open`, from `ensureDir`), once per
 * process: the files a service makes in it are owner-only, but their names, and any file made
 * there by hand, show.
 */
export function warnOpenFolder(log: Logger, open: OpenFolder | undefined): void {
  if (open === undefined || warnedFolders.has(open.path)) return;
  warnedFolders.add(open.path);
  log.warn("other users may read this data folder; chmod 700 it to keep it owner-only", {
    path: open.path,
    mode: open.mode,
  });
}

/** A service's start function: config in, running service out. */
export type StartFn<S extends Shape> = (
  config: Infer<S>,
  /** `sources`: where each setting's value came from, for messages that name a setting. */
  deps?: { log?: Logger; sources?: SourceMap },
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
      const loaded = await spec.parse(argv);
      if (loaded.help) {
        print(spec.usage());
        return 0;
      }
      // No card or SSN reaches a service's log lines (docs/concepts.md#logs), whatever the
      // service logs: the PII scrubber registers itself with the log core when loaded. Loaded
      // here rather than by main.ts, so the plugin host and one-shot commands do not carry it.
      await lateImport("../core/pii/mod.ts", import.meta.url);
      const log = serviceLogger(spec.spec.command, loaded.config);
      for (const w of loaded.warnings ?? []) log.warn(w);
      const held = holdStopSignals();
      let service: Service;
      try {
        service = await start(loaded.config, { log, sources: loaded.sources });
      } catch (err) {
        held.release();
        throw explainStartFailure(err, { ...loaded, leaves: spec.leaves() });
      }
      return await serveUntilStopped(service, log, held);
    },
  };
}

/** Stop signals held while a service starts; see {@link holdStopSignals}. */
export interface HeldSignals {
  /** Whether SIGTERM, SIGINT or SIGHUP arrived while held. */
  readonly early: boolean;
  /** Stops holding (idempotent). */
  release(): void;
}

/**
 * Holds SIGTERM/SIGINT/SIGHUP from now on: a service listens before its start() returns, and a signal in
 * that window must stop it cleanly (exit 0), not kill the process with the default action.
 */
export function holdStopSignals(): HeldSignals {
  let early = false;
  let held = true;
  const hold = () => early = true;
  for (const s of STOP_SIGNALS) Deno.addSignalListener(s, hold);
  return {
    get early() {
      return early;
    },
    release() {
      if (!held) return;
      held = false;
      for (const s of STOP_SIGNALS) Deno.removeSignalListener(s, hold);
    },
  };
}

/**
 * Runs a started service until it is stopped: a signal held while it started closes it at once
 * (exit 0). Otherwise the stop handlers are bound before the held ones are released (no window
 * where a signal takes the default action) and before `announce` prints anything a supervisor or
 * a person might act on, such as a URL to open or to stop.
 */
export async function serveUntilStopped(
  service: Service,
  log: Logger,
  held: HeldSignals,
  announce: () => void = () => {},
): Promise<number> {
  if (held.early) {
    held.release();
    log.info("shutting down");
    await service.close();
    return 0;
  }
  const done = runUntilStopped(service, log);
  held.release();
  announce();
  return await done;
}

/**
 * Waits for SIGTERM/SIGINT/SIGHUP (drain, then 0) or for the service to fail (its listener died):
 * then it is closed and the exit code is 1, so a supervisor restarts it.
 */
export async function runUntilStopped(service: Service, log: Logger): Promise<number> {
  const { promise, resolve } = Promise.withResolvers<number>();
  const removeSignals = closeOnSignal([service], log, (code) => resolve(code));
  service.failed.then(async (err) => {
    log.error("service failed; exiting for a restart", { err });
    removeSignals();
    await service.close().catch(() => {});
    resolve(1);
  });
  return await promise;
}
