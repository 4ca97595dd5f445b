/**
 * Server-rendered dashboard pages (hono/jsx). JSX escapes every interpolated value, so relay
 * payloads render as text here exactly as the browser script renders live cards.
 * @module
 */
import type { Child } from "hono/jsx";
import type { RelayEvent } from "../relay/client.ts";
import type { RelayState } from "./feed.ts";
import type { AuditView } from "./tx.ts";

/** Decisions that get a pill. */
export const DECISIONS = new Set(["allow", "deny", "block", "warn"]);
/** Longest payload text shown on a card. */
export const MAX_CARD_TEXT = 4000;
const TX_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The transaction id a payload refers to (tx_id, else trace_id), when well-formed. */
export function txIdOf(payload: Record<string, unknown>): string | undefined {
  const v = typeof payload.tx_id === "string"
    ? payload.tx_id
    : typeof payload.trace_id === "string"
    ? payload.trace_id
    : undefined;
  return v !== undefined && TX_ID.test(v) ? v : undefined;
}

function relayText(s: RelayState): string {
  return s.state === "connected"
    ? "relay connected"
    : s.state === "connecting"
    ? "connecting to relay…"
    : "relay unreachable, retrying";
}

function Layout(
  props: { title: string; relay: RelayState; script?: boolean; bar?: Child; children: Child },
) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title}</title>
        <link rel="stylesheet" href="/static/app.css" />
        {props.script ? <script src="/static/app.js" defer></script> : ""}
      </head>
      <body>
        <header>
          <h1>
            <a href="/">iatp mesh</a>
          </h1>
          <span
            id="relay-status"
            class="status"
            data-state={props.relay.state}
            title={props.relay.error ?? ""}
          >
            {relayText(props.relay)}
          </span>
          {props.bar ?? ""}
        </header>
        {props.children}
      </body>
    </html>
  );
}

/** One event card (the browser script builds the same markup for live events). */
export function Card(props: { e: RelayEvent }) {
  const p = props.e.payload ?? {};
  const decision = typeof p.decision === "string" && DECISIONS.has(p.decision) ? p.decision : "";
  const tx = txIdOf(p);
  let body = JSON.stringify(p, null, 2);
  if (body.length > MAX_CARD_TEXT) body = body.slice(0, MAX_CARD_TEXT) + "\n…";
  return (
    <li class="card" data-topic={props.e.topic} data-event-id={props.e.event_id}>
      <div class="card-head">
        <span class="topic">{props.e.topic}</span>
        <time class="ts">{props.e.ts}</time>
        {decision ? <span class={`pill pill-${decision}`}>{decision}</span> : ""}
        {tx ? <a class="tx" href={`/tx/${encodeURIComponent(tx)}`}>tx {tx}</a> : ""}
      </div>
      <pre class="payload">{body}</pre>
    </li>
  );
}

/** `GET /`: counters, filter, pause, and the newest cards first. */
export function IndexPage(props: {
  relay: RelayState;
  events: readonly RelayEvent[];
  counts: Map<string, number>;
  maxCards: number;
}) {
  const shown = props.events.slice(-props.maxCards).reverse();
  const topics = [...props.counts.keys()].sort();
  const lastId = props.events.at(-1)?.id ?? "";
  const bar = (
    <>
      <span id="stream-status" class="status" data-state="connecting">connecting…</span>
      <div class="controls">
        <label>
          Topic{" "}
          <select id="topic-filter">
            <option value="">all topics</option>
            {topics.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        </label>
        <button id="pause" type="button" aria-pressed="false">Pause</button>
        <span id="held"></span>
      </div>
    </>
  );
  return (
    <Layout title="iatp dashboard" relay={props.relay} script bar={bar}>
      <main>
        <aside>
          <h2>Topics</h2>
          <ul id="counters">
            {topics.map((t) => (
              <li key={t} data-topic={t}>
                <span class="topic">{t}</span> <span class="count">{props.counts.get(t)}</span>
              </li>
            ))}
          </ul>
        </aside>
        <ol id="cards" data-last-id={lastId} data-max={String(props.maxCards)}>
          {shown.map((e) => <Card key={e.event_id} e={e} />)}
        </ol>
      </main>
    </Layout>
  );
}

function AuditSection(props: { audit: AuditView }) {
  const a = props.audit;
  if (a.state === "not_configured") {
    return <p class="note">No audit service configured: showing what the relay retained.</p>;
  }
  if (a.state === "unreachable") {
    return <p class="note failed">Audit service unreachable: {a.error}</p>;
  }
  if (a.entries.length === 0) {
    return <p class="note">The ledger holds no entries for this transaction.</p>;
  }
  return (
    <ol id="audit-entries">
      {a.entries.map((e) => (
        <li key={String(e.index)} class="card" data-index={String(e.index)}>
          <div class="card-head">
            <span class="topic">#{e.index} {e.event}</span>
            <span>{e.actor}</span>
            <time class="ts">{e.ts}</time>
            <span class={e.verified ? "verified" : "failed"}>
              {e.verified ? "receipt verified" : `receipt failed: ${e.reason ?? "unknown"}`}
            </span>
          </div>
          <pre class="payload">{JSON.stringify(e.payload, null, 2).slice(0, MAX_CARD_TEXT)}</pre>
        </li>
      ))}
    </ol>
  );
}

/** `GET /tx/{id}`: intent, decision and audit entries of one transaction. */
export function TxPage(props: {
  txId: string;
  relay: RelayState;
  intents: RelayEvent[];
  decisions: RelayEvent[];
  others: RelayEvent[];
  audit: AuditView;
}) {
  const list = (events: RelayEvent[], empty: string) =>
    events.length === 0
      ? <p class="note">{empty}</p>
      : <ol class="cards">{events.map((e) => <Card key={e.event_id} e={e} />)}</ol>;
  return (
    <Layout title={`tx ${props.txId}`} relay={props.relay}>
      <section id="tx-intent">
        <h2>Transaction {props.txId}: intent</h2>
        {list(props.intents, "No intent retained for this transaction.")}
      </section>
      <section id="tx-decision">
        <h2>Decision</h2>
        {list(props.decisions, "No decision retained for this transaction.")}
      </section>
      {props.others.length > 0
        ? (
          <section id="tx-other">
            <h2>Other events</h2>
            {list(props.others, "")}
          </section>
        )
        : ""}
      <section id="tx-audit">
        <h2>Audit ledger</h2>
        <AuditSection audit={props.audit} />
      </section>
    </Layout>
  );
}
