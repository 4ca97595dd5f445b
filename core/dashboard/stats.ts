/**
 * The overview's aggregates, kept as events arrive: decisions per minute for the last hour, the
 * agents behind sidecars, the latest blocks and denies, and which services were last heard from
 * on the relay. Everything is kept per topic, so a viewer's view sums only the topics its
 * `subscribe:` grants cover; every table is bounded.
 * @module
 */
import { DECISION_KINDS, type DecisionKind, nameText } from "./describe.ts";
import type { DashEvent, Viewer } from "./event.ts";

/** Minutes of decision history charted. */
export const CHART_MINUTES = 60;
/** Default bound on topics with decision counts, agents, latest rows and services seen. */
const DEFAULT_STATS_LIMITS = { topics: 256, agents: 1000, latest: 20, seen: 256 };

type Counts = Record<DecisionKind, number>;
const zero = (): Counts => ({ allow: 0, deny: 0, block: 0, warn: 0 });

/** One agent behind a sidecar. */
export interface AgentRow {
  agent_id: string;
  allow: number;
  warn: number;
  block: number;
  trust_score?: number;
  last_block_reason?: string;
  last_seen: string;
}

/** A recent block or deny. */
export interface LatestRow {
  ts: string;
  topic: string;
  decision: DecisionKind;
  summary: string;
  reason?: string;
  tx?: string;
}

/** A service heard from on the relay. */
export interface SeenRow {
  kind: string;
  name: string;
  last_seen: string;
}

/** What a viewer's overview shows of the aggregates. */
export interface StatsView {
  /** Start of each charted minute, unix seconds, oldest first. */
  minutes: number[];
  series: Record<DecisionKind, number[]>;
  agents: AgentRow[];
  latest: LatestRow[];
  seen: SeenRow[];
}

interface Slot {
  minute: number;
  counts: Counts;
}

/** Which service an event shows alive, if any. */
function serviceOf(e: DashEvent): { kind: string; name: string } | undefined {
  const t = e.topic;
  if (t === "access.decision") return { kind: "policy", name: e.publisher ?? "policy" };
  if (t === "audit.appended") return { kind: "audit", name: e.publisher ?? "audit" };
  if (t === "iatp.trace") return { kind: "sidecar", name: e.agent ?? "sidecar" };
  if (t.startsWith("sensor.")) return { kind: "sensor", name: e.agent ?? "sensor" };
  if (t === "action.results") return { kind: "action", name: e.agent ?? "action" };
  if (t.startsWith("status.")) {
    const host = e.payload.host ?? e.payload.agent_id;
    const name = typeof host === "string" ? nameText(host) : "";
    return { kind: "status", name: name || "status" };
  }
  return undefined;
}

/** The aggregates; see the module doc. */
export class MeshStats {
  readonly #slots = new Map<string, Slot[]>();
  readonly #agents = new Map<string, AgentRow & { topic: string }>();
  readonly #latest: LatestRow[] = [];
  readonly #seen = new Map<string, SeenRow & { topic: string }>();

  constructor(
    readonly limits = DEFAULT_STATS_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one event. */
  add(e: DashEvent): void {
    if (e.decision) this.#count(e.topic, e.decision, e.ts);
    if (e.decision === "block" || e.decision === "deny") {
      this.#latest.push({
        ts: e.ts,
        topic: e.topic,
        decision: e.decision,
        summary: e.summary,
        ...(e.reason ? { reason: e.reason } : {}),
        ...(e.tx ? { tx: e.tx } : {}),
      });
      // Kept deeper than shown, so a viewer scoped to one topic still gets a full list.
      if (this.#latest.length > this.limits.latest * 10) this.#latest.shift();
    }
    if (e.topic === "iatp.trace" && e.agent) this.#agent(e, e.agent);
    const svc = serviceOf(e);
    if (svc) {
      const key = `${svc.kind}\0${svc.name}`;
      this.#seen.delete(key);
      this.#seen.set(key, { ...svc, last_seen: e.ts, topic: e.topic });
      if (this.#seen.size > this.limits.seen) this.#seen.delete(this.#seen.keys().next().value!);
    }
  }

  /** Counts a decision in the minute it happened (history replayed after a restart included). */
  #count(topic: string, d: DecisionKind, ts: string): void {
    const nowMinute = Math.floor(this.now() / 60_000);
    const at = Date.parse(ts);
    // An event stamped in the future (clock skew) counts now; one older than the chart, not at all.
    const minute = Number.isFinite(at) ? Math.min(nowMinute, Math.floor(at / 60_000)) : nowMinute;
    if (minute <= nowMinute - CHART_MINUTES) return;
    let slots = this.#slots.get(topic);
    if (!slots) {
      if (this.#slots.size >= this.limits.topics) return;
      slots = [];
      this.#slots.set(topic, slots);
    }
    const i = minute % CHART_MINUTES;
    if (!slots[i] || slots[i].minute !== minute) slots[i] = { minute, counts: zero() };
    slots[i].counts[d]++;
  }

  #agent(e: DashEvent, id: string): void {
    let row = this.#agents.get(id);
    if (row) this.#agents.delete(id);
    else row = { agent_id: id, allow: 0, warn: 0, block: 0, last_seen: e.ts, topic: e.topic };
    this.#agents.set(id, row);
    row.last_seen = e.ts;
    if (e.decision === "allow" || e.decision === "warn" || e.decision === "block") {
      row[e.decision]++;
    }
    if (e.decision === "block" && e.reason) row.last_block_reason = e.reason;
    const details = e.payload.details;
    const score = details && typeof details === "object"
      ? Reflect.get(details, "trust_score")
      : undefined;
    if (typeof score === "number") row.trust_score = score;
    if (this.#agents.size > this.limits.agents) {
      this.#agents.delete(this.#agents.keys().next().value!);
    }
  }

  /** The aggregates `viewer` may see. */
  view(viewer: Viewer): StatsView {
    const nowMinute = Math.floor(this.now() / 60_000);
    const minutes: number[] = [];
    const series = { allow: [], deny: [], block: [], warn: [] } as Record<DecisionKind, number[]>;
    const visible = [...this.#slots].filter(([t]) => viewer.maySee(t)).map(([, s]) => s);
    for (let m = nowMinute - CHART_MINUTES + 1; m <= nowMinute; m++) {
      minutes.push(m * 60);
      const sum = zero();
      for (const slots of visible) {
        const s = slots[m % CHART_MINUTES];
        if (s && s.minute === m) { for (const k of DECISION_KINDS) sum[k] += s.counts[k]; }
      }
      for (const k of DECISION_KINDS) series[k].push(sum[k]);
    }
    const strip = <T extends { topic: string }>({ topic: _, ...rest }: T) => rest;
    return {
      minutes,
      series,
      agents: [...this.#agents.values()].filter((a) => viewer.maySee(a.topic)).reverse()
        .map(strip),
      latest: this.#latest.filter((r) => viewer.maySee(r.topic)).slice(-this.limits.latest)
        .reverse(),
      seen: [...this.#seen.values()].filter((s) => viewer.maySee(s.topic)).reverse().map(strip),
    };
  }
}
