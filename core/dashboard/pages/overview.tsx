/**
 * `GET /`: the overview. Every section is server-rendered (it reads without script); overview.js
 * re-fetches the page on a timer, swaps the sections marked `data-live`, and draws the decision
 * chart (uPlot) from the `data-chart` JSON of `#chart`.
 * @module
 */
import { DECISION_KINDS } from "../describe.ts";
import type { Viewer } from "../event.ts";
import type { OverviewData, ServiceRow } from "../overview.ts";
import { Layout, NoTopicNotice, Pill, Time, uriComponent } from "./layout.tsx";

const STATE_TEXT: Record<ServiceRow["state"], string> = {
  up: "up",
  degraded: "degraded",
  down: "down",
  unknown: "checking",
  seen: "active",
};

/**
 * Most rows the page shows of each list (services, agents, sensor types): the page is fetched
 * again at every refresh, and the dashboard keeps up to 1,000 agents and topics. The rest are
 * counted under the table; `/api/overview` lists them all.
 */
export const MAX_PAGE_ROWS = 100;

/** The note under a list cut to {@linkcode MAX_PAGE_ROWS}, or nothing. */
function More(props: { id: string; total: number; what: string; where: string }) {
  const more = props.total - MAX_PAGE_ROWS;
  if (more <= 0) return "";
  return (
    <p class="muted small" id={props.id}>
      {`${more} more ${props.what} not shown (${props.where}); `}
      <code>/api/overview</code> lists them all.
    </p>
  );
}

function Services(props: { rows: ServiceRow[] }) {
  return (
    <section id="services" class="panel" data-live aria-labelledby="services-h">
      <h2 id="services-h">Services</h2>
      <table class="grid">
        <thead>
          <tr>
            <th scope="col">Service</th>
            <th scope="col">State</th>
            <th scope="col">Last seen</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.slice(0, MAX_PAGE_ROWS).map((s) => (
            <tr data-service={s.name} data-state={s.state}>
              <th scope="row">
                {s.name}
                {s.kind !== s.name ? <span class="muted">{s.kind}</span> : ""}
              </th>
              <td>
                <span class={`state state-${s.state}`}>{STATE_TEXT[s.state]}</span>
                {s.note ? <span class="muted note">{s.note}</span> : ""}
              </td>
              <td>
                <Time ts={s.last_seen} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <More
        id="services-more"
        total={props.rows.length}
        what="services"
        where="the least recently heard from"
      />
      <p class="muted small">
        Services with a health URL are polled; the others are known from their events on the relay
        ("active").
      </p>
    </section>
  );
}

function Chart(props: { data: OverviewData }) {
  const d = props.data;
  return (
    <section id="decisions" class="panel wide" aria-labelledby="decisions-h">
      <h2 id="decisions-h">Decisions per minute, last hour</h2>
      <div id="chart" class="chart" data-chart={JSON.stringify(d.chart)} aria-hidden="true">
      </div>
      <ul id="totals" class="totals" data-live aria-label="Decisions in the last hour">
        {DECISION_KINDS.map((k) => (
          <li data-kind={k}>
            <Pill decision={k} /> <span class="count">{d.totals[k]}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Agents(props: { data: OverviewData }) {
  const rows = props.data.agents;
  return (
    <section id="agents" class="panel wide" data-live aria-labelledby="agents-h">
      <h2 id="agents-h">Agents</h2>
      {rows.length === 0 ? <p class="muted">No sidecar traffic yet.</p> : (
        <div class="scroll-x">
          <table class="grid">
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Trust</th>
                <th scope="col">Allow</th>
                <th scope="col">Warn</th>
                <th scope="col">Block</th>
                <th scope="col">Last block reason</th>
              </tr>
            </thead>
            <tbody>
              {rows.slice(0, MAX_PAGE_ROWS).map((a) => (
                <tr data-agent={a.agent_id}>
                  <th scope="row">
                    <a href={`/activity?agent=${uriComponent(a.agent_id)}`}>{a.agent_id}</a>
                  </th>
                  <td>{a.trust_score === undefined ? "?" : `${a.trust_score}/10`}</td>
                  <td>{a.allow}</td>
                  <td>{a.warn}</td>
                  <td>{a.block}</td>
                  <td class="reason-cell">{a.last_block_reason ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <More
            id="agents-more"
            total={rows.length}
            what="agents"
            where="the least recently active"
          />
        </div>
      )}
    </section>
  );
}

function Latest(props: { data: OverviewData }) {
  const rows = props.data.latest;
  return (
    <section id="latest" class="panel wide" data-live aria-labelledby="latest-h">
      <h2 id="latest-h">Latest blocks and denies</h2>
      {rows.length === 0 ? <p class="muted">No blocks or denies.</p> : (
        <ol class="latest">
          {rows.map((r) => (
            <li class="latest-row" data-decision={r.decision}>
              <Pill decision={r.decision} /> <Time ts={r.ts} /> {r.tx
                ? <a href={`/tx/${uriComponent(r.tx)}`}>{r.summary}</a>
                : <span>{r.summary}</span>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** Ledger states styled by their own class (views.css): ok, not pinned, bad. */
const TONED = new Set(["verified", "unpinned", "failed"]);

function Ledger(props: { data: OverviewData }) {
  const l = props.data.ledger;
  const verdict = l.state === "verified"
    ? "verified with the configured key"
    : l.state === "unpinned"
    ? (
      <>
        checkpoint ok, key not pinned: who signed it is unknown. Set <code>audit_public_key</code>
        {" "}
        (<code>--audit-public-key</code>,{" "}
        <code>IATP_DASHBOARD_AUDIT_PUBLIC_KEY</code>) to the audit service's vkey to verify it.
      </>
    )
    : l.state === "failed"
    ? `verification failed: ${l.reason ?? ""}`
    : l.state === "unreachable"
    ? `audit service unreachable: ${l.reason ?? ""}`
    : l.state === "not_configured"
    ? "no audit service configured"
    : "checking…";
  return (
    <section id="ledger" class="panel" data-live data-state={l.state} aria-labelledby="ledger-h">
      <h2 id="ledger-h">Audit ledger</h2>
      <dl class="facts">
        <dt>Entries</dt>
        <dd id="ledger-size">{l.tree_size ?? "?"}</dd>
        <dt>Last checkpoint</dt>
        <dd>
          {l.root_hash ? <code>{l.root_hash.slice(0, 16)}…</code> : "none"}{" "}
          <Time ts={l.checked_at} />
        </dd>
        <dt>Checkpoint</dt>
        <dd class={TONED.has(l.state) ? l.state : ""}>
          {verdict}
        </dd>
      </dl>
    </section>
  );
}

function Sensors(props: { data: OverviewData }) {
  const rows = props.data.sensors;
  return (
    <section id="sensors" class="panel" data-live aria-labelledby="sensors-h">
      <h2 id="sensors-h">Sensor events by type</h2>
      {rows.length === 0 ? <p class="muted">No sensor events yet.</p> : (
        <table class="grid">
          <tbody>
            {rows.slice(0, MAX_PAGE_ROWS).map((s) => (
              <tr>
                <th scope="row">
                  <a href={`/activity?topic=${uriComponent(`sensor.${s.type}`)}`}>
                    {s.type}
                  </a>
                </th>
                <td>{s.count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <More id="sensors-more" total={rows.length} what="sensor types" where="the least frequent" />
    </section>
  );
}

function EmptyState(props: { data: OverviewData; viewer: Viewer }) {
  if (props.viewer.seesNoTopic) {
    return (
      <div id="empty" class="empty" data-live>
        <NoTopicNotice />
      </div>
    );
  }
  if (props.data.events > 0) return <div id="empty" data-live hidden></div>;
  const down = props.data.relay.state !== "connected";
  return (
    <div id="empty" class="empty" data-live>
      <h2>Nothing to show yet</h2>
      {down
        ? (
          <p>
            The dashboard is waiting for the relay. Start it with <code>iatp relay</code>.
          </p>
        )
        : <p>The relay is connected, and no event has arrived yet.</p>}
      <p>
        To see the whole mesh at work, run{" "}
        <code>iatp up</code>: it starts every service with demo traffic. Agents appear here once
        their sidecars handle requests.
      </p>
    </div>
  );
}

/** The overview page. */
export function OverviewPage(props: { data: OverviewData; viewer: Viewer; refreshMs: number }) {
  const d = props.data;
  return (
    <Layout
      title="iatp dashboard"
      page="overview"
      relay={d.relay}
      viewer={props.viewer}
      scripts={["overview.js"]}
      styles={["vendor/uplot/uPlot.min.css"]}
    >
      <div class="page-head">
        <h1>Mesh overview</h1>
        <p class="muted" id="generated" data-live data-refresh={String(props.refreshMs)}>
          Updated <Time ts={d.generated_at} />
        </p>
      </div>
      <EmptyState data={d} viewer={props.viewer} />
      <div class="panels">
        <Chart data={d} />
        <Services rows={d.services} />
        <Ledger data={d} />
        <Latest data={d} />
        <Agents data={d} />
        <Sensors data={d} />
      </div>
    </Layout>
  );
}
