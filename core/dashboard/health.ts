/**
 * Health of the mesh's services as the overview shows it: the dashboard polls the open
 * `GET /health` of each configured service URL on a timer (one request per service per round,
 * each with a deadline and a byte cap) and remembers when each last answered. For a trust
 * sidecar (its health names an `agent_id`) the signed manifest gives the agent's trust score.
 * @module
 */
import { every, type Timer } from "../async/mod.ts";
import { isoTimestamp, type Logger, scrubString } from "../log/mod.ts";
import { fetchJson } from "./fetch_json.ts";
import { plainText } from "./event.ts";

/** Most services watched. */
export const MAX_WATCHED_SERVICES = 64;
/** Largest health or manifest answer read. */
const MAX_HEALTH_BYTES = 64 * 1024;

/** A service to watch: a display name and its base URL. */
export interface ServiceTarget {
  name: string;
  url: string;
}

/** What the overview knows of one service. */
export interface ServiceHealth {
  name: string;
  url: string;
  /** `degraded`: it answers, but says a part of it is not ok (its `status`, and `reason`). */
  state: "unknown" | "up" | "degraded" | "down";
  /** When it last answered 200. */
  last_seen?: string;
  checked_at?: string;
  error?: string;
  /** A few facts from its health answer (agent id, trust score, ledger size). */
  detail: Record<string, string | number>;
}

/**
 * Parses `name=url` entries (the `services` setting).
 * @example
 * ```ts
 * parseServiceTargets(["policy=http://127.0.0.1:8002"]); // [{name: "policy", url: "http://..."}]
 * ```
 * @throws {Error} whose message is what was found: the entry that is not `name=http(s)://...`.
 */
export function parseServiceTargets(entries: string[]): ServiceTarget[] {
  return entries.map((entry) => {
    const m = /^([A-Za-z0-9._:-]{1,64})=(https?:\/\/\S{1,2000})$/.exec(entry.trim());
    if (!m) throw new Error(JSON.stringify(entry));
    try {
      return { name: m[1], url: new URL(m[2]).href.replace(/\/+$/, "") };
    } catch (err) {
      throw new Error(`${JSON.stringify(entry)}, whose URL does not parse`, { cause: err });
    }
  });
}

const FACTS = ["service", "agent_id", "tree_size", "subscribers", "status", "reason"] as const;

/** Polls every target's `/health`; see the module doc. */
export class HealthWatch {
  readonly #state: ServiceHealth[];
  #timer: Timer | undefined;
  #round: Promise<void> | undefined;

  constructor(
    targets: ServiceTarget[],
    private readonly o: { intervalMs: number; timeoutMs: number; log: Logger },
  ) {
    this.#state = targets.slice(0, MAX_WATCHED_SERVICES).map((t) => ({
      ...t,
      state: "unknown",
      detail: {},
    }));
  }

  /** Starts polling (the first round right away). */
  start(): void {
    if (this.#state.length === 0) return;
    this.#timer = every(this.o.intervalMs, () => void this.poll());
    void this.poll();
  }

  /** The current view, in configured order. */
  snapshot(): ServiceHealth[] {
    return this.#state.map((s) => ({ ...s, detail: { ...s.detail } }));
  }

  /** One round over every target (a round still running is joined, not doubled). */
  poll(): Promise<void> {
    return this.#round ??= (async () => {
      try {
        await Promise.all(this.#state.map((s) => this.#check(s)));
      } finally {
        this.#round = undefined;
      }
    })();
  }

  async #check(s: ServiceHealth): Promise<void> {
    const limits = { timeoutMs: this.o.timeoutMs, maxBytes: MAX_HEALTH_BYTES };
    const answer = await fetchJson(`${s.url}/health`, limits);
    const now = isoTimestamp(Date.now());
    s.checked_at = now;
    if (!answer.ok) {
      if (s.state !== "down") {
        this.o.log.info("service down", { service: s.name, err: answer.error });
      }
      s.state = "down";
      s.error = scrubString(answer.error);
      return;
    }
    s.last_seen = now;
    delete s.error;
    const body = answer.body && typeof answer.body === "object" ? answer.body : {};
    delete s.detail.reason;
    for (const k of FACTS) {
      const v = Reflect.get(body, k);
      if (typeof v === "string" || typeof v === "number") {
        // Shown to every viewer: a reason quoting a connection string or a token is masked
        // (before the cut, which could leave a secret no longer recognisable).
        s.detail[k] = plainText(scrubString(String(v)).slice(0, 128));
      }
    }
    s.state = ["ok", "healthy"].includes(String(s.detail.status ?? "ok")) ? "up" : "degraded";
    if (typeof s.detail.agent_id === "string" && s.detail.trust_score === undefined) {
      const m = await fetchJson(`${s.url}/.well-known/agent-manifest`, limits);
      const score = m.ok && m.body && typeof m.body === "object"
        ? Reflect.get(m.body, "trust_score")
        : undefined;
      if (typeof score === "number") s.detail.trust_score = score;
    }
  }

  /** Stops polling and waits for a round in progress. */
  async close(): Promise<void> {
    this.#timer?.cancel();
    await this.#round;
  }
}
