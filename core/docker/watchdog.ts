/**
 * Container watchdog. Every check interval it inspects each watched container (by name or label
 * selector) and restarts one that exited or whose HEALTHCHECK reports `unhealthy` (Docker itself
 * never restarts a container only for being unhealthy). Restarts back off `base x factor^n`;
 * after `maxAttempts` the watchdog alerts once and retries after a cool-down instead of stopping
 * for good. A failure mentioning GLIBC is restarted at once and reported as `glibc_mismatch`.
 * Unhealthy containers inside their start period are left alone. Every action is reported
 * through `onEvent` (the agent publishes it to the relay topic `status.watchdog`).
 * @module
 */
import { backoffDelay, delayOf } from "../async/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { ContainerInspect, DockerEngine } from "./engine.ts";
import { DockerError } from "./engine.ts";
import { errorMessage } from "../errors/mod.ts";

/** Default time between checks (upstream: 30 s). */
const DEFAULT_CHECK_INTERVAL_MS = 30_000;
/** Default first restart delay (upstream: 10 s). */
const DEFAULT_BACKOFF_BASE_MS = 10_000;
/** Default backoff multiplier (upstream: 1.5, giving 10/15/22/33/50 s). */
const DEFAULT_BACKOFF_FACTOR = 1.5;
/** Default restarts before giving up (upstream: 5). */
const DEFAULT_MAX_ATTEMPTS = 5;
/** Default wait after giving up before trying again. */
const DEFAULT_COOLDOWN_MS = 600_000;
/** Default grace after a container starts during which `unhealthy` is tolerated. */
const DEFAULT_START_PERIOD_MS = 60_000;
/** Default time a restarted container must stay up (and healthy) to end the restart round. */
const DEFAULT_STABLE_AFTER_MS = 10_000;
/** Log lines searched for a GLIBC error. */
const GLIBC_LOG_TAIL = 50;

/** Watchdog actions, as published. */
export type WatchdogAction =
  | "scheduled"
  | "restarted"
  | "restart_failed"
  | "gave_up"
  | "cooldown_over"
  | "recovered"
  | "missing";

/** Why a container needs a restart. */
export type WatchdogReason = "exited" | "unhealthy" | "glibc_mismatch";

/** One watchdog event. */
export interface WatchdogEvent {
  action: WatchdogAction;
  container: string;
  reason?: WatchdogReason;
  /** Restarts done so far in this round (1-based after a restart). */
  attempt: number;
  /** Delay before the scheduled restart. */
  delay_ms?: number;
  exit_code?: number;
  health?: string | null;
  error?: string;
  timestamp: string;
}

/** Options for {@linkcode Watchdog}. */
export interface WatchdogOptions {
  engine: DockerEngine;
  /** Container names watched. */
  names: string[];
  /** Label selector (`key` or `key=value`) whose matching containers are watched too. */
  label?: string;
  checkIntervalMs?: number;
  backoffBaseMs?: number;
  backoffFactor?: number;
  maxAttempts?: number;
  cooldownMs?: number;
  startPeriodMs?: number;
  /** Uptime after which a restarted container counts as recovered (crash loops never do). */
  stableAfterMs?: number;
  /** Stop grace passed to the restart. */
  restartTimeoutSecs?: number;
  onEvent: (e: WatchdogEvent) => void;
  /** Called after each pass over the watched containers (for a pass counter). */
  onPass?: () => void;
  log: Logger;
}

interface Tracked {
  attempts: number;
  timer?: ReturnType<typeof setTimeout>;
  cooldownUntil?: number;
  missing?: boolean;
}

/** Watches containers and restarts failed ones. */
export class Watchdog {
  #tracked = new Map<string, Tracked>();
  #intentional = new Set<string>();
  #closed = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(private readonly opts: WatchdogOptions) {}

  /** Starts the check loop (first check at once). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops checking and cancels pending restarts. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    for (const t of this.#tracked.values()) clearTimeout(t.timer);
    await this.#loop;
  }

  /** An operator stopped `name` on purpose: leave it down until it is started again. */
  markIntentionalStop(name: string): void {
    this.#intentional.add(name);
    const t = this.#tracked.get(name);
    if (t) clearTimeout(t.timer);
    this.#tracked.delete(name);
  }

  /** An operator started or restarted `name`: watch it again. */
  clearIntentionalStop(name: string): void {
    this.#intentional.delete(name);
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.checkOnce();
      } catch (err) {
        this.opts.log.warn("watchdog check failed", { err });
      }
      this.opts.onPass?.();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(
          resolve,
          delayOf(this.opts.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS),
        );
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The watched container names right now (explicit names plus label matches). */
  async targets(): Promise<string[]> {
    const names = new Set(this.opts.names);
    if (this.opts.label) {
      const list = await this.opts.engine.listContainers({
        all: true,
        filters: { label: [this.opts.label] },
      });
      for (const c of list) names.add((c.Names[0] ?? c.Id).replace(/^\//, ""));
    }
    return [...names].filter((n) => !this.#intentional.has(n));
  }

  /** One pass over every target. */
  async checkOnce(): Promise<void> {
    for (const name of await this.targets()) {
      if (this.#closed) return;
      await this.#check(name);
    }
  }

  #emit(e: Omit<WatchdogEvent, "timestamp">): void {
    const event = { ...e, timestamp: new Date().toISOString() };
    this.opts.log.info("watchdog", { ...event });
    try {
      this.opts.onEvent(event);
    } catch (err) {
      this.opts.log.warn("watchdog event handler failed", { err });
    }
  }

  async #inspect(name: string): Promise<ContainerInspect | undefined> {
    try {
      return await this.opts.engine.inspect(name);
    } catch (err) {
      if (err instanceof DockerError && err.status === 404) return undefined;
      throw err;
    }
  }

  async #check(name: string): Promise<void> {
    const t = this.#tracked.get(name) ?? { attempts: 0 };
    this.#tracked.set(name, t);
    const info = await this.#inspect(name);
    if (!info) {
      if (!t.missing) this.#emit({ action: "missing", container: name, attempt: t.attempts });
      t.missing = true;
      return;
    }
    t.missing = false;
    const reason = await this.#failure(name, info);
    if (!reason) {
      const health = info.State.Health?.Status;
      const upMs = Date.now() - Date.parse(info.State.StartedAt);
      const stable = upMs >= (this.opts.stableAfterMs ?? DEFAULT_STABLE_AFTER_MS);
      // Up for the stable period and healthy (or without a check): the round is over. A crash
      // loop caught between start and exit must not reset the attempt count.
      if (
        t.attempts > 0 && info.State.Running && stable &&
        (health === undefined || health === "healthy")
      ) {
        this.#emit({ action: "recovered", container: name, attempt: t.attempts, health });
        t.attempts = 0;
        t.cooldownUntil = undefined;
      }
      return;
    }
    if (t.timer !== undefined) return; // a restart is already scheduled
    // An operator may have stopped it while this check was inspecting.
    if (this.#intentional.has(name)) return;
    this.#handleFailure(name, t, info, reason);
  }

  #handleFailure(name: string, t: Tracked, info: ContainerInspect, reason: WatchdogReason): void {
    const max = this.opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    const base = { container: name, reason, exit_code: info.State.ExitCode };
    if (t.attempts >= max) {
      const now = Date.now();
      if (t.cooldownUntil === undefined) {
        t.cooldownUntil = now + (this.opts.cooldownMs ?? DEFAULT_COOLDOWN_MS);
        this.#emit({ ...base, action: "gave_up", attempt: t.attempts });
        return;
      }
      if (now < t.cooldownUntil) return;
      t.attempts = 0;
      t.cooldownUntil = undefined;
      this.#emit({ ...base, action: "cooldown_over", attempt: 0 });
    }
    const delay = reason === "glibc_mismatch" ? 0 : backoffDelay(t.attempts, {
      baseMs: this.opts.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS,
      maxMs: Infinity,
      factor: this.opts.backoffFactor ?? DEFAULT_BACKOFF_FACTOR,
      jitter: "none",
    });
    this.#emit({
      ...base,
      action: "scheduled",
      attempt: t.attempts + 1,
      delay_ms: delay,
      health: info.State.Health?.Status ?? null,
    });
    t.timer = setTimeout(() => void this.#restart(name, t, reason), delayOf(delay));
  }

  async #restart(name: string, t: Tracked, reason: WatchdogReason): Promise<void> {
    // t.timer stays set until the restart finished, so a check running meanwhile (seeing the
    // container still down) does not schedule a second restart.
    try {
      if (this.#closed || this.#intentional.has(name)) return;
      t.attempts++;
      await this.opts.engine.restart(name, this.opts.restartTimeoutSecs ?? 10);
      this.#emit({ action: "restarted", container: name, reason, attempt: t.attempts });
    } catch (err) {
      this.#emit({
        action: "restart_failed",
        container: name,
        reason,
        attempt: t.attempts,
        error: errorMessage(err),
      });
    } finally {
      t.timer = undefined;
    }
  }

  /** Why `info` needs a restart, or undefined when it does not. */
  async #failure(name: string, info: ContainerInspect): Promise<WatchdogReason | undefined> {
    const s = info.State;
    if (s.Paused || s.Restarting) return undefined;
    const exited = s.Status === "exited" || s.Status === "dead";
    const unhealthy = s.Running && s.Health?.Status === "unhealthy";
    if (!exited && !unhealthy) return undefined;
    if (exited && await this.#mentionsGlibc(name, info)) return "glibc_mismatch";
    if (exited) return "exited";
    const startedMs = Date.parse(s.StartedAt);
    const grace = this.opts.startPeriodMs ?? DEFAULT_START_PERIOD_MS;
    if (Number.isFinite(startedMs) && Date.now() - startedMs < grace) return undefined;
    return "unhealthy";
  }

  async #mentionsGlibc(name: string, info: ContainerInspect): Promise<boolean> {
    if (/GLIBC/i.test(info.State.Error ?? "")) return true;
    try {
      const { text } = await this.opts.engine.logs(name, { tail: GLIBC_LOG_TAIL });
      return /GLIBC/i.test(text);
    } catch {
      return false;
    }
  }
}
