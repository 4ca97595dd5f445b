/**
 * The dashboard's read-only routes, each answering only what the request's viewer may see:
 * the overview (`/`, `/api/overview`), events (`/activity`, `/api/events`, the `/events` SSE
 * stream), one transaction (`/tx/{id}`, HTML or JSON) and a state summary (`/api/state`).
 * @module
 */
import type { Context } from "hono";
import { HttpError } from "../errors/mod.ts";
import type { App, AppEnv } from "../http/mod.ts";
import type { DashboardAuth } from "./auth.ts";
import { parseQuery, searchEvents, TX_ID, txEvents } from "./event.ts";
import type { DashboardFeed } from "./feed.ts";
import type { HealthWatch } from "./health.ts";
import type { NoteVerifier } from "../ledger/vkey/mod.ts";
import type { LedgerWatch } from "./ledger_watch.ts";
import { overviewFor } from "./overview.ts";
import { ActivityPage } from "./pages/activity.tsx";
import { OverviewPage } from "./pages/overview.tsx";
import { TxPage } from "./pages/tx.tsx";
import { auditFor, loadAuditTrail } from "./tx.ts";

/** What the routes need besides the app. */
export interface RouteDeps {
  feed: DashboardFeed;
  auth: DashboardAuth;
  health: HealthWatch;
  ledger: LedgerWatch;
  relayUrl: string;
  auditUrl?: string;
  auditKey?: NoteVerifier;
  auditTimeoutMs: number;
  pageSize: number;
  /** Most bytes of events one answer holds (events search, a transaction). */
  responseBytes: number;
  streamBacklog: number;
  overviewRefreshMs: number;
  maxClients: number;
  maxViewerStreams: number;
  retryMs: number;
}

function wantsJson(c: Context<AppEnv>): boolean {
  return c.req.query("format") === "json" ||
    (c.req.header("accept") ?? "").startsWith("application/json");
}

const page = (c: Context<AppEnv>, html: unknown) => c.html("<!doctype html>" + String(html));

/** Registers every read route on `app`. */
export function registerDashboardRoutes(app: App, d: RouteDeps): void {
  registerOverview(app, d);
  registerEvents(app, d);
  registerTx(app, d);
}

function registerOverview(app: App, d: RouteDeps): void {
  const { feed, auth } = d;
  const sources = { feed, health: d.health, ledger: d.ledger, relayUrl: d.relayUrl };
  app.get("/", (c) => {
    const viewer = auth.viewerOf(c);
    const data = overviewFor(sources, viewer);
    if (wantsJson(c)) return c.json(data);
    return page(c, <OverviewPage data={data} viewer={viewer} refreshMs={d.overviewRefreshMs} />);
  });
  app.get("/api/overview", (c) => c.json(overviewFor(sources, auth.viewerOf(c))));
  app.get("/api/state", (c) => {
    const viewer = auth.viewerOf(c);
    const visible = feed.visible(viewer);
    return c.json({
      viewer: viewer.id,
      relay: feed.relay(viewer),
      counts: Object.fromEntries(feed.counts(viewer)),
      events: visible.count,
      last_id: feed.events()[visible.newest]?.id ?? null,
    });
  });
}

function registerEvents(app: App, d: RouteDeps): void {
  const { feed, auth } = d;
  app.get("/activity", (c) => {
    const viewer = auth.viewerOf(c);
    const query = parseQuery((k) => c.req.query(k), d.pageSize);
    const found = searchEvents(feed, viewer, query, d.responseBytes);
    return page(
      c,
      <ActivityPage
        relay={feed.relay(viewer)}
        viewer={viewer}
        query={query}
        events={found.events}
        more={found.more}
        counts={feed.counts(viewer)}
        maxTopics={feed.maxCountedTopics}
        lastId={feed.events()[feed.visible(viewer).newest]?.id ?? ""}
        pageSize={query.limit}
      />,
    );
  });
  app.get("/api/events", (c) => {
    const query = parseQuery((k) => c.req.query(k), d.pageSize);
    const found = searchEvents(feed, auth.viewerOf(c), query, d.responseBytes);
    return c.json({ ...found, next_before: found.more ? found.events.at(-1)?.id : null });
  });

  const browsersFull = () =>
    new HttpError(503, `browser limit of ${d.maxClients} reached (max_clients)`, {
      setting: "max_clients",
      limit: d.maxClients,
    });
  app.get("/events", (c) => {
    const headers = {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
    };
    const viewer = auth.viewerOf(c);
    // One viewer cannot take every stream slot: the others' live view stays open.
    const refusal = viewer.authenticated && feed.streamsOf(viewer.id) >= d.maxViewerStreams
      ? new HttpError(
        429,
        `stream limit of ${d.maxViewerStreams} per viewer reached (max_viewer_streams)`,
        { setting: "max_viewer_streams", limit: d.maxViewerStreams },
      )
      : feed.full
      ? browsersFull()
      : undefined;
    // A HEAD answer carries no body and registers no stream (nothing would read it): it tells
    // the page why its stream was refused (EventSource reports no status), with the GET's status.
    if (c.req.method === "HEAD") {
      return c.body(null, (refusal?.status ?? 200) as 200 | 429 | 503, headers);
    }
    if (refusal) throw refusal;
    const stream = feed.open(
      viewer,
      c.req.header("last-event-id") ?? c.req.query("since"),
      {
        retryMs: d.retryMs,
        backlog: d.streamBacklog,
      },
    );
    if (!stream) throw browsersFull();
    return c.body(stream.body(), 200, headers);
  });
}

function registerTx(app: App, d: RouteDeps): void {
  const { feed, auth } = d;
  app.get("/tx", (c) => {
    const id = c.req.query("id")?.trim() ?? "";
    if (!TX_ID.test(id)) return c.redirect("/activity", 303);
    return c.redirect(`/tx/${encodeURIComponent(id)}`, 303);
  });

  app.get("/tx/:id", async (c) => {
    const txId = c.req.param("id");
    if (!TX_ID.test(txId)) {
      throw new HttpError(400, "invalid transaction id", { expected: TX_ID.source });
    }
    const viewer = auth.viewerOf(c);
    const after = c.req.query("after")?.trim() || undefined;
    const held = txEvents(feed, viewer, txId, after, d.responseBytes);
    const events = held.events;
    const trail = await loadAuditTrail(d.auditUrl, txId, {
      timeoutMs: d.auditTimeoutMs,
      key: d.auditKey,
    });
    const audit = auditFor(trail, viewer);
    if (wantsJson(c)) {
      return c.json({
        tx_id: txId,
        intents: events.filter((e) => e.topic === "access.intent"),
        decisions: events.filter((e) => e.topic === "access.decision"),
        others: events.filter((e) => e.topic !== "access.intent" && e.topic !== "access.decision"),
        more: held.more,
        next_after: held.next_after,
        audit,
      });
    }
    return page(
      c,
      <TxPage
        txId={txId}
        relay={feed.relay(viewer)}
        viewer={viewer}
        events={events}
        nextAfter={held.next_after}
        continued={held.continued}
        audit={audit}
      />,
    );
  });
}
