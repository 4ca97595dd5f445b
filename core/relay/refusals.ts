/**
 * Publishes refused by a topic bound (`max_topics`, `max_topics_per_principal`): each is counted
 * in `/metrics` (`iatp_relay_topic_refusals_total{setting}`) and logged at most once per
 * principal per {@linkcode REFUSAL_LOG_INTERVAL_MS}, naming the principal, the setting, its bound
 * and how many of its publishes were refused since its last line; never the topic or the payload.
 * Publishes the JetStream stream refused for good likewise: counted in
 * `iatp_relay_stream_refusals_total{reason}`, logged at most once per reason per interval.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import type { Counter } from "../metrics/mod.ts";
import type { StreamRefusalReason, StreamRefusedError } from "./js_refusal.ts";
import type { TopicLimitError, TopicLimitSetting } from "./store.ts";

/** How often one principal's refusals are logged at most. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;
/** Principals whose last line is remembered; past it, refusals of new ones are counted only. */
const REFUSAL_LOG_PRINCIPALS = 1024;

interface Logged {
  atMs: number;
  /** Refusals since that line, not logged. */
  quiet: number;
}

/** See the module doc. */
export class TopicRefusals {
  readonly #logged = new Map<string | undefined, Logged>();

  constructor(
    private readonly log: Logger,
    private readonly counter: Counter<"setting">,
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
  ) {}

  /** Counts the refusal of a publish by `principal` (undefined: anonymous) and logs it if due. */
  refused(err: TopicLimitError, principal: string | undefined, nowMs = Date.now()): void {
    this.counter.inc({ setting: err.setting });
    const last = this.#logged.get(principal);
    if (last && nowMs - last.atMs < this.intervalMs) {
      last.quiet++;
      return;
    }
    if (!last && this.#logged.size >= REFUSAL_LOG_PRINCIPALS && !this.#prune(nowMs)) return;
    this.#logged.set(principal, { atMs: nowMs, quiet: 0 });
    this.#line(principal, err.setting, err.limit, 1 + (last?.quiet ?? 0));
  }

  #line(principal: string | undefined, setting: TopicLimitSetting, limit: number, n: number) {
    this.log.warn("publish refused: a topic bound is reached", {
      principal: principal ?? "anonymous",
      setting,
      limit,
      refused: n,
    });
  }

  /** Forgets the principals whose last line is older than the interval; true if any was. */
  #prune(nowMs: number): boolean {
    const before = this.#logged.size;
    for (const [p, l] of this.#logged) {
      if (nowMs - l.atMs >= this.intervalMs) this.#logged.delete(p);
    }
    return this.#logged.size < before;
  }
}

/** Publishes the stream refused for good; see the module doc. */
export class StreamRefusals {
  readonly #logged = new Map<StreamRefusalReason, Logged>();

  constructor(
    private readonly log: Logger,
    private readonly counter: Counter<"reason">,
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
  ) {}

  /** Counts one refused publish and logs it if due. */
  refused(err: StreamRefusedError, nowMs = Date.now()): void {
    this.counter.inc({ reason: err.reason });
    const last = this.#logged.get(err.reason);
    if (last && nowMs - last.atMs < this.intervalMs) {
      last.quiet++;
      return;
    }
    this.#logged.set(err.reason, { atMs: nowMs, quiet: 0 });
    this.log.warn("publish refused by the relay's stream", {
      ...err.fields,
      error: err.message,
      refused: 1 + (last?.quiet ?? 0),
    });
  }
}
