/**
 * `GET /tx/{id}`: the story of one transaction. A heading with its outcome, one timeline across
 * services (intent -> decision -> ledger receipts, or sidecar request -> block -> ledger), the
 * full intent or request with its context, and every ledger entry with its receipt verified on
 * the dashboard server. Cards here never link to this page.
 * @module
 */
// deno-lint-ignore-file jsx-key -- hono/jsx writes `key` into the markup (it leaked as
// `<option key=...>`); keys only serve client-side reconciliation, which these pages never do.
import type { DashEvent, Viewer } from "../event.ts";
import type { RelayState } from "../feed.ts";
import type { AuditEntryView, AuditView } from "../tx.ts";
import { EventCard, Layout, Pill, Time } from "./layout.tsx";

/** One step of the timeline. */
interface Step {
  ts: string;
  title: string;
  detail: string;
  decision?: string;
  verified?: boolean;
}

const TRACE_TITLES: Record<string, string> = {
  request: "Sidecar received the request",
  blocked: "Sidecar blocked the request",
  warning: "Sidecar warned: override required",
  response: "The agent answered",
  quarantine: "Sidecar let a quarantined agent through",
  error: "Sidecar refused a malformed request",
};

function stepOf(e: DashEvent): Step | undefined {
  const base = { ts: e.ts, detail: e.summary, ...(e.decision ? { decision: e.decision } : {}) };
  if (e.topic === "access.intent") return { ...base, title: "Intent published" };
  if (e.topic === "access.decision") {
    return { ...base, title: "Policy decided", detail: e.reason ?? e.summary };
  }
  if (e.topic === "iatp.trace") {
    const t = typeof e.payload.type === "string" ? e.payload.type : "";
    return { ...base, title: TRACE_TITLES[t] ?? `Sidecar: ${t || "event"}` };
  }
  if (e.topic === "audit.appended") return undefined; // the ledger entries below say it better
  return { ...base, title: e.topic };
}

/** How a receipt's check reads on the page. */
function receiptText(a: AuditEntryView): string {
  if (a.receipt === "verified") return "receipt verified";
  if (a.receipt === "unpinned") return "proof ok, key not pinned";
  return `receipt failed: ${a.reason ?? "unknown"}`;
}

function ledgerStep(a: AuditEntryView): Step {
  return {
    ts: a.ts,
    title: `Ledger entry #${a.index}: ${a.event}`,
    detail: `by ${a.actor}; ${receiptText(a)}`,
    ...(a.receipt === "unpinned" ? {} : { verified: a.receipt === "verified" }),
  };
}

/** The timeline steps, in time order. */
function storyOf(events: DashEvent[], audit: AuditView): Step[] {
  const steps = events.map(stepOf).filter((s): s is Step => s !== undefined);
  if (audit.state === "ok") steps.push(...audit.entries.map(ledgerStep));
  return steps.sort((a, b) => a.ts.localeCompare(b.ts));
}

function outcomeOf(events: DashEvent[], part: boolean): { decision?: string; text: string } {
  const d = events.findLast((e) => e.decision && e.topic !== "access.intent");
  if (!d && part) return { text: "No decision among the events shown here." };
  if (!d) return { text: "No decision retained for this transaction." };
  const by = d.topic === "access.decision" ? "policy" : d.agent ?? "sidecar";
  return { decision: d.decision, text: `${by}: ${d.reason ?? d.summary}` };
}

function Fields(props: { value: unknown }) {
  const v = props.value;
  if (v === null || typeof v !== "object") return <span>{String(v)}</span>;
  return (
    <dl class="facts">
      {Object.entries(v).map(([k, x]) => (
        <>
          <dt>{k}</dt>
          <dd>
            {x !== null && typeof x === "object" && !Array.isArray(x)
              ? <Fields value={x} />
              : Array.isArray(x)
              ? x.map(String).join(", ")
              : String(x)}
          </dd>
        </>
      ))}
    </dl>
  );
}

function Subject(props: { events: DashEvent[]; txId: string; continued: boolean }) {
  const intent = props.events.find((e) => e.topic === "access.intent");
  const request = props.events.find((e) =>
    e.topic === "iatp.trace" && e.payload.type === "request"
  );
  const shown = intent ?? request;
  if (!shown) {
    return (
      <>
        <h2 id="intent-h">Intent</h2>
        {props.continued
          ? (
            <p class="muted">
              These are later events:{" "}
              <a href={`/tx/${encodeURIComponent(props.txId)}`}>the first ones</a>{" "}
              hold its intent or request.
            </p>
          )
          : <p class="muted">The relay no longer holds this transaction's intent or request.</p>}
      </>
    );
  }
  const body = intent ? intent.payload : (shown.payload.details ?? {});
  return (
    <>
      <h2 id="intent-h">{intent ? "Intent" : "Request"}</h2>
      <div class="intent-fields">
        <Fields value={body} />
      </div>
      <details class="raw">
        <summary>Raw JSON</summary>
        <pre class="payload full">{JSON.stringify(shown.payload, null, 2)}</pre>
      </details>
    </>
  );
}

function Ledger(props: { audit: AuditView & { hidden?: number } }) {
  const a = props.audit;
  if (a.state === "not_configured") {
    return <p class="muted">No audit service configured: showing what the relay retained.</p>;
  }
  if (a.state === "unreachable") return <p class="failed">Audit service unreachable: {a.error}</p>;
  return (
    <>
      {a.entries.length === 0 ? <p class="muted">The ledger holds no entries for it.</p> : ""}
      {a.entries.some((e) => e.receipt === "unpinned")
        ? (
          <p id="audit-unpinned" class="unpinned">
            Receipts are not verified: no audit key is pinned, so who signed their checkpoints is
            unknown. Set <code>audit_public_key</code> (<code>--audit-public-key</code>,{" "}
            <code>IATP_DASHBOARD_AUDIT_PUBLIC_KEY</code>) to the audit service's vkey to verify
            them.
          </p>
        )
        : ""}
      <ol id="audit-entries" class="cards">
        {a.entries.map((e) => (
          <li class="card" data-index={String(e.index)}>
            <div class="card-head">
              <span class="topic">#{e.index} {e.event}</span>
              <span>{e.actor}</span>
              <Time ts={e.ts} />
              <span class={e.receipt}>{receiptText(e)}</span>
            </div>
            <details class="raw">
              <summary>Entry JSON</summary>
              <pre class="payload">{JSON.stringify(e.payload, null, 2)}</pre>
            </details>
          </li>
        ))}
      </ol>
      {a.hidden ? <p class="muted">{a.hidden} more entries are outside your scopes.</p> : ""}
    </>
  );
}

/** The transaction page. */
export function TxPage(
  props: {
    txId: string;
    relay: RelayState;
    viewer: Viewer;
    events: DashEvent[];
    /** Where the next answer continues, when this one holds fewer events than held. */
    nextAfter?: string | null;
    /** True when these events continue an earlier answer (`after` named one of them). */
    continued?: boolean;
    audit: AuditView & { hidden?: number };
  },
) {
  const out = outcomeOf(props.events, Boolean(props.continued || props.nextAfter));
  const steps = storyOf(props.events, props.audit);
  return (
    <Layout title={`Transaction ${props.txId}`} page="tx" relay={props.relay} viewer={props.viewer}>
      <div class="page-head">
        <h1>Transaction {props.txId}</h1>
        <p id="outcome" class="outcome">
          {out.decision ? <Pill decision={out.decision} /> : ""} {out.text}
        </p>
      </div>
      <section id="tx-story" class="panel" aria-labelledby="story-h">
        <h2 id="story-h">Timeline</h2>
        {steps.length === 0
          ? <p class="muted">Nothing retained for this transaction.</p>
          : (
            <ol class="timeline">
              {steps.map((s) => (
                <li
                  class={`step${s.verified === true ? " ok" : s.verified === false ? " bad" : ""}`}
                >
                  <Time ts={s.ts} />
                  <span class="step-title">{s.title}</span>
                  {s.decision ? <Pill decision={s.decision} /> : ""}
                  <span class="step-detail">{s.detail}</span>
                </li>
              ))}
            </ol>
          )}
      </section>
      <section id="tx-intent" class="panel" aria-labelledby="intent-h">
        <Subject events={props.events} txId={props.txId} continued={Boolean(props.continued)} />
      </section>
      <section id="tx-events" class="panel" aria-labelledby="events-h">
        <h2 id="events-h">Events on the relay</h2>
        {props.events.length === 0 ? <p class="muted">None retained.</p> : (
          <ol class="cards">
            {props.events.map((e) => <EventCard e={e} currentTx={props.txId} />)}
          </ol>
        )}
        {props.nextAfter
          ? (
            <p class="pager">
              <a
                id="newer"
                href={`/tx/${encodeURIComponent(props.txId)}?after=${
                  encodeURIComponent(props.nextAfter)
                }`}
              >
                Newer events
              </a>
            </p>
          )
          : ""}
      </section>
      <section id="tx-audit" class="panel" aria-labelledby="audit-h">
        <h2 id="audit-h">Audit ledger</h2>
        <Ledger audit={props.audit} />
      </section>
    </Layout>
  );
}
