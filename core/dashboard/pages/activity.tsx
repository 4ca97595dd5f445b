/**
 * `GET /activity`: events as sentences, newest first, one page at a time (a bounded DOM whatever
 * the store holds), with combinable filters kept in the URL (tx id, agent, topic, decision,
 * text). events.js keeps the first page live from the dashboard's stream, with pause and resume.
 * @module
 */
// deno-lint-ignore-file jsx-key -- hono/jsx writes `key` into the markup (it leaked as
// `<option key=...>`); keys only serve client-side reconciliation, which these pages never do.
import { DECISION_KINDS } from "../describe.ts";
import type { DashEvent, EventQuery, Viewer } from "../event.ts";
import type { RelayState } from "../feed.ts";
import { EventCard, Layout, NoTopicNotice, uriComponent } from "./layout.tsx";

/** Props of {@linkcode ActivityPage}. */
export interface ActivityProps {
  relay: RelayState;
  viewer: Viewer;
  query: EventQuery;
  events: DashEvent[];
  more: boolean;
  counts: Map<string, number>;
  /** Most topics the server counts: the live page adds none beyond it. */
  maxTopics: number;
  /**
   * The newest event the viewer may see, where the live stream resumes (never a hidden one's
   * position).
   */
  lastId: string;
  pageSize: number;
}

function queryString(q: EventQuery, extra: Record<string, string> = {}): string {
  const p = new URLSearchParams();
  for (const k of ["tx", "agent", "topic", "decision", "q"] as const) {
    const v = q[k];
    if (v) p.set(k, v);
  }
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
}

function Filters(props: { q: EventQuery; topics: string[] }) {
  const q = props.q;
  return (
    <form id="filters" class="filters" method="get" action="/activity" role="search">
      <label>
        Transaction id
        <input name="tx" id="f-tx" value={q.tx ?? ""} maxlength={128} autocomplete="off" />
      </label>
      <label>
        Agent id
        <input name="agent" id="f-agent" value={q.agent ?? ""} maxlength={128} />
      </label>
      <label>
        Topic
        <select name="topic" id="f-topic">
          <option value="">all topics</option>
          {props.topics.map((t) => <option value={t} selected={q.topic === t}>{t}</option>)}
        </select>
      </label>
      <label>
        Decision
        <select name="decision" id="f-decision">
          <option value="">any decision</option>
          {DECISION_KINDS.map((d) => <option value={d} selected={q.decision === d}>{d}</option>)}
        </select>
      </label>
      <label>
        Text
        <input name="q" id="f-q" type="search" value={q.q ?? ""} maxlength={128} />
      </label>
      <div class="filter-actions">
        <button type="submit">Search</button>
        <a href="/activity">Clear</a>
      </div>
    </form>
  );
}

function TopicCounts(props: { counts: Map<string, number>; max: number }) {
  const topics = [...props.counts.keys()].sort();
  return (
    <section class="side-section" aria-labelledby="topics-h">
      <h2 id="topics-h">Topics</h2>
      <ul id="counters" data-max={String(props.max)}>
        {topics.map((t) => (
          <li data-topic={t}>
            <a href={`/activity?topic=${uriComponent(t)}`}>{t}</a>
            <span class="count">{props.counts.get(t)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The events page. */
export function ActivityPage(props: ActivityProps) {
  const q = props.query;
  const live = !q.before;
  const filtered = Boolean(q.tx || q.agent || q.topic || q.decision || q.q);
  const oldest = props.events.at(-1);
  return (
    <Layout
      title="Events · iatp dashboard"
      page="activity"
      relay={props.relay}
      viewer={props.viewer}
      scripts={["events.js"]}
      sidebar={<TopicCounts counts={props.counts} max={props.maxTopics} />}
    >
      <div class="page-head">
        <h1>Events</h1>
        {live
          ? (
            <div class="controls">
              <span id="stream-status" class="stream" data-state="connecting">connecting…</span>
              <button id="pause" type="button" aria-pressed="false">Pause</button>
              <span id="held" role="status"></span>
            </div>
          )
          : <a href={`/activity${queryString(q)}`}>Back to the newest events</a>}
      </div>
      {live ? <p id="missed" class="missed" role="status"></p> : ""}
      <Filters q={q} topics={[...props.counts.keys()].sort()} />
      {q.tx
        ? (
          <p class="tx-link">
            <a href={`/tx/${uriComponent(q.tx)}`}>Open the story of transaction {q.tx}</a>
          </p>
        )
        : ""}
      {props.viewer.seesNoTopic
        ? <NoTopicNotice />
        : props.events.length === 0
        ? (
          <p id="no-events" class="empty">
            {filtered
              ? "No event matches these filters."
              : "No events yet. Start the mesh with iatp up, or point services at the relay."}
          </p>
        )
        : ""}
      <ol
        id="cards"
        class="cards"
        aria-live="off"
        data-live={live ? "1" : ""}
        data-last-id={props.lastId}
        data-max={String(props.pageSize)}
      >
        {props.events.map((e) => <EventCard e={e} />)}
      </ol>
      {props.more && oldest
        ? (
          <p class="pager">
            <a id="older" href={`/activity${queryString(q, { before: oldest.id })}`}>
              Older events
            </a>
          </p>
        )
        : ""}
    </Layout>
  );
}
