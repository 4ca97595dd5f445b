/**
 * The overview's data for one viewer: every service's health (the relay, the polled services,
 * and services only heard from on the relay), the decision chart, agents, latest blocks and
 * denies, the ledger and sensor events by type. Served as the landing page and as
 * `GET /api/overview`.
 * @module
 */
import { DECISION_KINDS, type DecisionKind } from "./describe.ts";
import type { Viewer } from "./event.ts";
import type { DashboardFeed, RelayState } from "./feed.ts";
import type { HealthWatch } from "./health.ts";
import type { LedgerState, LedgerWatch } from "./ledger_watch.ts";
import type { AgentRow, LatestRow, StatsView } from "./stats.ts";

/** One row of the services table. */
export interface ServiceRow {
  name: string;
  kind: string;
  /** `seen` means known only from its events on the relay (no health URL configured). */
  state: "up" | "degraded" | "down" | "unknown" | "seen";
  last_seen?: string;
  url?: string;
  note?: string;
}

/** Everything the overview shows. */
export interface OverviewData {
  generated_at: string;
  relay: RelayState;
  services: ServiceRow[];
  chart: { minutes: number[]; series: Record<DecisionKind, number[]> };
  /** Decisions per kind over the charted hour. */
  totals: Record<DecisionKind, number>;
  agents: AgentRow[];
  latest: LatestRow[];
  ledger: LedgerState;
  sensors: Array<{ type: string; count: number }>;
  /** Events in the store this viewer may see. */
  events: number;
}

/** Where the overview's parts come from. */
export interface OverviewSources {
  feed: DashboardFeed;
  health: HealthWatch;
  ledger: LedgerWatch;
  relayUrl: string;
}

/**
 * A service URL as the overview shows it: its user name, password, query and fragment left out,
 * so a credential written into a configured URL (`http://user:secret@host`, `?token=`) reaches no
 * page or JSON answer.
 */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.origin + (u.pathname === "/" ? "" : u.pathname);
  } catch {
    return "(not a URL)";
  }
}

function relayRow(relay: RelayState, url: string): ServiceRow {
  return {
    name: "relay",
    kind: "relay",
    state: relay.state === "connected" ? "up" : relay.state === "connecting" ? "unknown" : "down",
    last_seen: relay.state === "connected" ? new Date().toISOString() : relay.last_event,
    url: shownUrl(url),
    ...(relay.error ? { note: relay.error } : {}),
  };
}

/** The services table: the relay, the polled services, then services only heard from. */
function servicesFor(
  src: OverviewSources,
  viewer: Viewer,
  seen: StatsView["seen"],
): { services: ServiceRow[]; trust: Map<string, number> } {
  const services: ServiceRow[] = [relayRow(src.feed.relay(viewer), src.relayUrl)];
  const trust = new Map<string, number>();
  const polled = new Set<string>(["relay"]);
  for (const h of src.health.snapshot()) {
    const agent = typeof h.detail.agent_id === "string" ? h.detail.agent_id : undefined;
    const kind = typeof h.detail.service === "string"
      ? h.detail.service
      : agent
      ? "sidecar"
      : h.name;
    const trustScore = h.detail.trust_score;
    if (agent && kind === "sidecar" && typeof trustScore === "number") trust.set(agent, trustScore);
    const notes = [
      ...(h.error ? [h.error] : []),
      ...(h.state === "degraded" ? [String(h.detail.reason ?? h.detail.status)] : []),
      ...(agent ? [`agent ${agent}`] : []),
    ];
    services.push({
      name: h.name,
      kind,
      state: h.state,
      ...(h.last_seen ? { last_seen: h.last_seen } : {}),
      url: shownUrl(h.url),
      ...(notes.length ? { note: notes.join(", ") } : {}),
    });
    polled.add(h.name);
    if (agent) polled.add(agent);
  }
  for (const s of seen) {
    if (polled.has(s.name)) continue;
    services.push({ name: s.name, kind: s.kind, state: "seen", last_seen: s.last_seen });
  }
  return { services, trust };
}

/** Assembles the overview for `viewer`. */
export function overviewFor(src: OverviewSources, viewer: Viewer): OverviewData {
  const stats = src.feed.stats.view(viewer);
  const { services, trust } = servicesFor(src, viewer, stats.seen);
  const totals = { allow: 0, deny: 0, block: 0, warn: 0 };
  for (const k of DECISION_KINDS) totals[k] = stats.series[k].reduce((a, b) => a + b, 0);
  const counts = src.feed.counts(viewer);
  const sensors = [...counts].filter(([t]) => t.startsWith("sensor."))
    .map(([t, count]) => ({ type: t.slice(7), count }))
    .sort((a, b) => b.count - a.count);
  const events = src.feed.visible(viewer).count;
  return {
    generated_at: new Date().toISOString(),
    relay: src.feed.relay(viewer),
    services,
    chart: { minutes: stats.minutes, series: stats.series },
    totals,
    agents: stats.agents.map((a) =>
      a.trust_score === undefined && trust.has(a.agent_id)
        ? { ...a, trust_score: trust.get(a.agent_id) }
        : a
    ),
    latest: stats.latest,
    ledger: src.ledger.snapshot(),
    sensors,
    events,
  };
}
