/**
 * The dashboard's routes, all GET: the live page, its same-origin SSE stream, a JSON state
 * summary, one transaction's view, and the static script and stylesheet.
 * @module
 */
import { HttpError } from "../errors/mod.ts";
import type { App } from "../http/mod.ts";
import type { RelayEvent } from "../relay/client.ts";
import { CLIENT_CSS, CLIENT_JS } from "./client_js.ts";
import type { DashboardFeed } from "./feed.ts";
import { IndexPage, txIdOf, TxPage } from "./pages.tsx";
import type { DashboardOptions } from "./server.tsx";
import { loadAuditTrail } from "./tx.ts";

const TX_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function splitTx(events: readonly RelayEvent[], txId: string) {
  const mine = events.filter((e) => txIdOf(e.payload ?? {}) === txId);
  return {
    intents: mine.filter((e) => e.topic === "access.intent"),
    decisions: mine.filter((e) => e.topic === "access.decision"),
    others: mine.filter((e) => e.topic !== "access.intent" && e.topic !== "access.decision"),
  };
}

/** Registers every dashboard route on `app`. */
export function registerDashboardRoutes(app: App, feed: DashboardFeed, o: DashboardOptions): void {
  app.get("/", (c) =>
    c.html(
      "<!doctype html>" +
        (
          <IndexPage
            relay={feed.relay()}
            events={feed.events()}
            counts={feed.counts()}
            maxCards={o.maxCards}
          />
        ),
    ));

  app.get("/events", (c) => {
    const stream = feed.open(c.req.header("last-event-id") ?? c.req.query("since"), o.retryMs);
    if (!stream) throw new HttpError(503, `browser limit of ${o.maxClients} reached`);
    return c.body(stream.body, 200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
    });
  });

  app.get("/api/state", (c) =>
    c.json({
      relay: feed.relay(),
      counts: Object.fromEntries(feed.counts()),
      events: feed.events().length,
      last_id: feed.events().at(-1)?.id ?? null,
    }));

  app.get("/tx/:id", async (c) => {
    const txId = c.req.param("id");
    if (!TX_ID.test(txId)) {
      throw new HttpError(400, "invalid transaction id", { expected: "^[A-Za-z0-9._:-]{1,128}$" });
    }
    const split = splitTx(feed.events(), txId);
    const audit = await loadAuditTrail(o.auditUrl, txId, {
      timeoutMs: o.auditTimeoutMs,
      publicKey: o.auditPublicKey,
    });
    const wantsJson = c.req.query("format") === "json" ||
      (c.req.header("accept") ?? "").startsWith("application/json");
    if (wantsJson) return c.json({ tx_id: txId, ...split, audit });
    return c.html(
      "<!doctype html>" + <TxPage txId={txId} relay={feed.relay()} audit={audit} {...split} />,
    );
  });

  app.get("/static/app.js", (c) =>
    c.body(CLIENT_JS, 200, {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "no-cache",
    }));
  app.get(
    "/static/app.css",
    (c) =>
      c.body(CLIENT_CSS, 200, {
        "content-type": "text/css; charset=utf-8",
        "cache-control": "no-cache",
      }),
  );
}
