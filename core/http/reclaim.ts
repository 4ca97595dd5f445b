/**
 * Gives a service's heap back once it has started and once traffic stops. V8 shrinks its heap
 * with a memory-reducing collection, which it arms on its own only once, at start, and runs well
 * after a service is up (an idle status agent held its start's heap for 30-45 s): what the start
 * allocated (configuration, module evaluation, a first sample) stays committed meanwhile, and
 * after a burst of traffic an idle service keeps the heap the burst grew (about 10 MB of a sidecar
 * after a load, heapTotal 18 MB for 7 MB live). So the reclaimer runs one memory-reducing
 * collection as soon as the server listens (the start's, once per isolate while none is pending),
 * and every `idle_reclaim` it looks at the work counter (requests the HTTP
 * edge took, instructions and commands the agents ran); when work happened and none came in the
 * last period, it runs one memory-reducing full collection (V8's `gc` with the last-resort
 * flavour), once per quiet spell, when the heap grew by at least `MIN_RECLAIM_GROWTH_BYTES` since
 * the last one. `gc` exists only when the process runs with
 * `--v8-flags=--expose-gc` (cmd/permissions.txt); without it the reclaimer says so once and does
 * nothing else. Its timer does not keep the process alive.
 * @module
 */
import { after, every, type Timer } from "../async/mod.ts";
import type { Logger } from "../log/mod.ts";
import { Counter, Gauge, type Registry } from "../metrics/mod.ts";

/** Default `idle_reclaim`: a quiet period this long after work gives the heap back. */
export const DEFAULT_IDLE_RECLAIM_MS = 30_000;
/**
 * Shortest `idle_reclaim` but 0 (off): one second. Every request counts as work, refused ones too,
 * so a client can buy at most one full collection per period (a pause of tens to hundreds of
 * milliseconds on a large heap); a period of a few milliseconds would sell one per request.
 */
export const MIN_IDLE_RECLAIM_MS = 1_000;
/**
 * How much the heap must have grown (V8's heapTotal) since the last reclaim, or since the
 * reclaimer started, for a quiet spell to run one: work that grew nothing (a trickle of refused
 * requests, say) buys no collection, so a client cannot make a service pause once a period.
 */
export const MIN_RECLAIM_GROWTH_BYTES = 4 * 1024 * 1024;
/** Longest `idle_reclaim` (1 day). */
export const MAX_IDLE_RECLAIM_MS = 86_400_000;

/** The options V8's `gc` takes with `--expose-gc` (V8's GCOptions). */
type GcOptions = { type: "major" | "minor"; execution: "sync" | "async"; flavor?: string };
type Gc = (opts?: GcOptions) => unknown;

/** This isolate's work, reclaims and the last reclaim's figures (shared by its servers). */
const state = {
  /** Units of work taken so far (requests, instructions, commands). */
  work: 0,
  /** The work count at the last reclaim: no second reclaim without work since. */
  reclaimedAt: 0,
  /** V8's heapTotal after the last reclaim (or when the first reclaimer started); -1: not yet. */
  heapAfter: -1,
  /** Quiet spells whose heap had not grown by MIN_RECLAIM_GROWTH_BYTES: no collection run. */
  skipped: 0,
  reclaims: 0,
  lastPauseSeconds: 0,
  lastFreedBytes: 0,
  /** Whether "unavailable" was logged (once per isolate). */
  toldUnavailable: false,
  /** The start's collection, armed when a server listens and not run yet (one per isolate). */
  startPending: undefined as Timer | undefined,
};

/**
 * Counts one unit of work that is not an HTTP request the edge took (an agent's instruction or
 * command): a quiet spell after it gives the heap back.
 * @example
 * ```ts
 * noteWork();
 * ```
 */
export function noteWork(): void {
  state.work++;
}

/** Options for {@linkcode startReclaim}. */
export interface ReclaimOptions {
  /** The quiet period, in milliseconds; 0 turns reclaiming off. */
  periodMs: number;
  log: Logger;
  /** The collection to run; default V8's `gc` when the process has it. For tests. */
  gc?: Gc;
}

/** A running reclaimer: `stop()` cancels its timer (idempotent). */
export interface Reclaimer {
  stop(): void;
}

/**
 * Starts the reclaimer: one memory-reducing collection on the next turn of the timer queue (the
 * start's garbage), then every `periodMs`, a period with no work after one with work runs one.
 * Several servers of one isolate (`iatp up`) share the counter, and one reclaim serves them all;
 * a server that listens while the start's collection waits arms no second one.
 */
export function startReclaim(opts: ReclaimOptions): Reclaimer {
  if (!(opts.periodMs > 0)) return { stop() {} };
  // The config refuses less; a server built in code gets the same floor.
  const periodMs = Math.max(opts.periodMs, MIN_IDLE_RECLAIM_MS);
  const gc = opts.gc ?? (globalThis as { gc?: Gc }).gc;
  if (typeof gc !== "function") {
    if (!state.toldUnavailable) {
      state.toldUnavailable = true;
      opts.log.info(
        "idle memory reclaim unavailable: the process runs without --v8-flags=--expose-gc " +
          "(set idle_reclaim to 0s to turn it off)",
        { idle_reclaim_ms: opts.periodMs },
      );
    }
    return { stop() {} };
  }
  let seen = state.work;
  if (state.heapAfter < 0) state.heapAfter = Deno.memoryUsage().heapTotal;
  // The start's collection: a status agent idled 2.2 MB lower, the policy 3.8 (pauses 8-64 ms).
  const startTimer = state.startPending ? undefined : after(0, () => {
    state.startPending = undefined;
    reclaim(gc, opts.log);
  });
  state.startPending ??= startTimer;
  const timer: Timer = every(periodMs, () => {
    const work = state.work;
    if (work !== seen) {
      seen = work;
      return;
    }
    if (work === state.reclaimedAt) return;
    state.reclaimedAt = work;
    if (Deno.memoryUsage().heapTotal - state.heapAfter < MIN_RECLAIM_GROWTH_BYTES) {
      state.skipped++;
      return;
    }
    reclaim(gc, opts.log);
  });
  return {
    stop: () => {
      timer.cancel();
      if (startTimer && state.startPending === startTimer) {
        startTimer.cancel();
        state.startPending = undefined;
      }
    },
  };
}

/** One memory-reducing full collection, measured. */
function reclaim(gc: Gc, log: Logger): void {
  const before = Deno.memoryUsage().heapTotal;
  const t0 = performance.now();
  try {
    gc({ type: "major", execution: "sync", flavor: "last-resort" });
  } catch (err) {
    log.warn("idle memory reclaim failed", { err });
    return;
  }
  const pause = performance.now() - t0;
  const afterBytes = Deno.memoryUsage().heapTotal;
  state.heapAfter = afterBytes;
  const freed = Math.max(0, before - afterBytes);
  state.reclaims++;
  state.lastPauseSeconds = pause / 1000;
  state.lastFreedBytes = freed;
  log.debug("idle memory reclaimed", { pause_ms: Math.round(pause * 10) / 10, freed_bytes: freed });
}

/**
 * Registers the reclaim metrics on a service's registry: `iatp_memory_reclaims_total`,
 * `iatp_memory_reclaims_skipped_total` and the last reclaim's pause and heap bytes given back.
 */
export function registerReclaimMetrics(registry: Registry): void {
  new Counter({
    name: "iatp_memory_reclaims_total",
    help: "Memory-reducing collections run: one once the server listened, then after a quiet " +
      "spell (idle_reclaim).",
    registers: [registry],
    collect() {
      const delta = state.reclaims - this.get();
      if (delta > 0) this.inc(delta);
    },
  });
  new Counter({
    name: "iatp_memory_reclaims_skipped_total",
    help: "Quiet spells after work that ran no collection: the heap had not grown by 4 MiB since " +
      "the last reclaim (idle_reclaim).",
    registers: [registry],
    collect() {
      const delta = state.skipped - this.get();
      if (delta > 0) this.inc(delta);
    },
  });
  new Gauge({
    name: "iatp_memory_reclaim_pause_seconds",
    help: "Pause of the last idle memory reclaim.",
    registers: [registry],
    collect() {
      this.set(state.lastPauseSeconds);
    },
  });
  new Gauge({
    name: "iatp_memory_reclaim_freed_bytes",
    help: "V8 heap (heapTotal) given back by the last idle memory reclaim.",
    registers: [registry],
    collect() {
      this.set(state.lastFreedBytes);
    },
  });
}
