/**
 * The frame of every dashboard page (hono/jsx, which escapes every interpolated value): head,
 * one status indicator, a sidebar that collapses behind a menu button on narrow screens, the
 * viewer and its logout button, and shared pieces (decision pills, times, event cards).
 * @module
 */
// deno-lint-ignore-file jsx-key -- hono/jsx writes `key` into the markup (it leaked as
// `<option key=...>`); keys only serve client-side reconciliation, which these pages never do.
import type { Child } from "hono/jsx";
import type { DashEvent, Viewer } from "../event.ts";
import type { RelayState } from "../feed.ts";

/** Longest raw JSON shown on a card (the full event stays in `/api/events`). */
export const MAX_RAW_CHARS = 8000;

/**
 * A value as one URI component for a link. Agent ids and reasons come from relay payloads and
 * service health answers, and JSON may carry a lone surrogate (`"\ud800"`), on which
 * `encodeURIComponent` throws: such a code unit becomes U+FFFD, so a link never fails a page.
 */
export function uriComponent(value: string): string {
  return encodeURIComponent(value.toWellFormed());
}

/** Which page is current (for the nav). */
export type PageName = "overview" | "activity" | "tx" | "login" | "error";

/** The one status indicator: the relay's state, said once (the stream adds to it in the page). */
function relayText(s: RelayState): string {
  return s.state === "connected"
    ? "relay connected"
    : s.state === "connecting"
    ? "connecting to relay…"
    : s.state === "failed"
    ? "live feed stopped (see the dashboard's log); restart the dashboard"
    : "relay unreachable, retrying";
}

/** Props of {@linkcode Layout}. */
export interface LayoutProps {
  title: string;
  page: PageName;
  relay?: RelayState;
  viewer?: Viewer;
  /** Module scripts under /static/client/ (default page.js: the shared behaviour only). */
  scripts?: string[];
  /** Extra stylesheets under /static/ (the chart's). */
  styles?: string[];
  sidebar?: Child;
  children: Child;
}

function Nav(props: { page: PageName }) {
  const link = (href: string, name: PageName, text: string) =>
    props.page === name ? <a href={href} aria-current="page">{text}</a> : <a href={href}>{text}</a>;
  return (
    <ul class="nav-links">
      <li>{link("/", "overview", "Overview")}</li>
      <li>{link("/activity", "activity", "Events")}</li>
    </ul>
  );
}

/** The page frame. */
export function Layout(props: LayoutProps) {
  const relay = props.relay;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title}</title>
        <link rel="icon" href="/static/client/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/static/client/app.css" />
        <link rel="stylesheet" href="/static/client/views.css" />
        {(props.styles ?? []).map((s) => <link rel="stylesheet" href={`/static/${s}`} />)}
        {(props.scripts ?? ["page.js"]).map((s) => (
          <script type="module" src={`/static/client/${s}`}></script>
        ))}
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="topbar">
          <button
            id="menu-toggle"
            class="menu-toggle"
            type="button"
            aria-expanded="false"
            aria-controls="sidebar"
          >
            Menu
          </button>
          <a class="brand" href="/">iatp mesh</a>
          {relay
            ? (
              <span
                id="relay-status"
                class="status"
                role="status"
                data-state={relay.state}
                title={relay.error ?? ""}
              >
                {relayText(relay)}
              </span>
            )
            : ""}
          {props.viewer?.authenticated
            ? (
              <form class="logout" method="post" action="/logout">
                <span class="who">{props.viewer.id}</span>
                <button type="submit">Log out</button>
              </form>
            )
            : ""}
        </header>
        <div class="frame">
          <nav id="sidebar" class="sidebar" aria-label="Dashboard">
            <Nav page={props.page} />
            {props.sidebar ?? ""}
          </nav>
          <main id="main" tabindex={-1}>{props.children}</main>
        </div>
      </body>
    </html>
  );
}

/** A decision pill. */
export function Pill(props: { decision: string }) {
  return <span class={`pill pill-${props.decision}`}>{props.decision}</span>;
}

/** A timestamp shown as HH:MM:SS, the full ISO time in the title. */
export function Time(props: { ts?: string }) {
  if (!props.ts) return <span class="muted">never</span>;
  const short = /T(\d\d:\d\d:\d\d)/.exec(props.ts)?.[1] ?? props.ts;
  return <time datetime={props.ts} title={props.ts}>{short}</time>;
}

/**
 * One event card: its sentence, decision and reason, links, and the masked raw JSON behind a
 * disclosure. `currentTx` suppresses the link to the page the card is on. events.js builds the
 * same markup for live events.
 */
export function EventCard(props: { e: DashEvent; currentTx?: string }) {
  const e = props.e;
  let raw = JSON.stringify(e.payload, null, 2);
  if (raw.length > MAX_RAW_CHARS) raw = raw.slice(0, MAX_RAW_CHARS) + "\n…";
  return (
    <li
      class="card"
      data-topic={e.topic}
      data-event-id={e.event_id}
      data-decision={e.decision ?? ""}
    >
      <div class="card-head">
        {e.decision ? <Pill decision={e.decision} /> : ""}
        <span class="topic">{e.topic}</span>
        <Time ts={e.ts} />
        {e.tx && e.tx !== props.currentTx
          ? <a class="tx" href={`/tx/${uriComponent(e.tx)}`}>tx {e.tx}</a>
          : ""}
        {e.publisher ? <span class="muted">via {e.publisher}</span> : ""}
      </div>
      <p class="summary">{e.summary}</p>
      {e.reason && e.decision !== "allow" && !e.summary.includes(e.reason)
        ? <p class="reason">Reason: {e.reason}</p>
        : ""}
      <details class="raw">
        <summary>Raw JSON</summary>
        <pre class="payload">{raw}</pre>
      </details>
    </li>
  );
}

/** What a viewer whose credential grants no `subscribe:` scope is told instead of "no events". */
export function NoTopicNotice() {
  return (
    <p id="no-topic" class="empty">
      Your credential grants no <code>subscribe:</code>{" "}
      scope, so no event is shown to you. Ask for a credential that holds the topics you need (for
      example <code>subscribe:sensor.*</code>, or <code>subscribe:*</code> for all of them).
    </p>
  );
}
