/**
 * The events page, live: new events from the dashboard's stream that match the filters in the
 * URL are added on top, and the list keeps at most one page of cards (older ones stay a click
 * away under "Older events"). Pause holds new events (counted; the newest page kept) until
 * resume. Cards are built with createElement and textContent only: payloads are untrusted.
 * The topic counters (and the topic filter's choices) grow with new topics only up to the bound
 * the server counts (`#counters` `data-max`). When the viewer's session ends (a logout elsewhere,
 * a revoked or expired credential) the page goes to the login, which brings the viewer back here.
 * A stream the dashboard refuses (this viewer's stream limit, its browser limit, or the service
 * unavailable) is shown as such and tried again with backoff, resuming after the last event
 * received: no event is lost or shown twice.
 * @module
 */
import { byId, el, initMenu, showStatus, timeEl } from "./common.js";

initMenu();

/**
 * @typedef {{
 *   event_id: string, ts: string, topic: string, payload: Record<string, unknown>,
 *   summary: string, decision?: string, reason?: string, tx?: string, agent?: string,
 *   publisher?: string
 * }} DashEvent
 */

const MAX_RAW_CHARS = 8000;
/** First and longest wait, in seconds, before a refused stream is tried again. */
const RETRY_MIN_S = 2;
const RETRY_MAX_S = 60;
const cards = byId("cards", HTMLOListElement);
const params = new URLSearchParams(location.search);
const filter = {
  tx: params.get("tx") ?? "",
  agent: params.get("agent") ?? "",
  topic: params.get("topic") ?? "",
  decision: params.get("decision") ?? "",
  q: (params.get("q") ?? "").toLowerCase(),
};

/**
 * The server's matching rule (event.ts matchesQuery), for live events.
 * @param {DashEvent} e
 * @returns {boolean}
 */
function matches(e) {
  if (filter.topic && e.topic !== filter.topic) return false;
  if (filter.decision && e.decision !== filter.decision) return false;
  if (filter.tx && !(e.tx ?? "").includes(filter.tx)) return false;
  if (filter.agent && !(e.agent ?? "").includes(filter.agent)) return false;
  if (filter.q) {
    const hay = `${e.summary}\n${e.topic}\n${e.tx ?? ""}\n${e.agent ?? ""}`.toLowerCase();
    if (!hay.includes(filter.q)) return false;
  }
  return true;
}

/**
 * Builds the card markup of layout.tsx EventCard.
 * @param {DashEvent} e
 * @returns {HTMLLIElement}
 */
function makeCard(e) {
  const li = /** @type {HTMLLIElement} */ (el("li", "card"));
  li.dataset.topic = e.topic;
  li.dataset.eventId = e.event_id;
  li.dataset.decision = e.decision ?? "";
  const head = el("div", "card-head");
  if (e.decision) head.append(el("span", `pill pill-${e.decision}`, e.decision));
  head.append(el("span", "topic", e.topic), timeEl(e.ts));
  if (e.tx) {
    const a = /** @type {HTMLAnchorElement} */ (el("a", "tx", `tx ${e.tx}`));
    a.href = `/tx/${encodeURIComponent(e.tx)}`;
    head.append(a);
  }
  if (e.publisher) head.append(el("span", "muted", `via ${e.publisher}`));
  li.append(head, el("p", "summary", e.summary));
  if (e.reason && e.decision !== "allow" && !e.summary.includes(e.reason)) {
    li.append(el("p", "reason", `Reason: ${e.reason}`));
  }
  let raw = JSON.stringify(e.payload ?? {}, null, 2);
  if (raw.length > MAX_RAW_CHARS) raw = raw.slice(0, MAX_RAW_CHARS) + "\n…";
  const details = el("details", "raw");
  details.append(el("summary", undefined, "Raw JSON"), el("pre", "payload", raw));
  li.append(details);
  return li;
}

/** Default of the topic bound when the page names none (the server's). */
const DEFAULT_MAX_TOPICS = 1000;

/**
 * The most topics the list may hold: the server's bound, rendered on it.
 * @param {HTMLElement} list
 * @returns {number}
 */
function maxTopics(list) {
  const n = Number(list.dataset.max);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_TOPICS;
}

/**
 * Counts one event of `topic`: a topic not listed yet gets a row (and a filter choice) while
 * the list holds fewer than the server's bound; beyond it, as on the server, it is not counted.
 * @param {string} topic
 */
function bump(topic) {
  const list = document.getElementById("counters");
  if (!list) return;
  let row = list.querySelector(`li[data-topic="${CSS.escape(topic)}"]`);
  if (!row) {
    if (list.children.length >= maxTopics(list)) return;
    row = el("li");
    row.setAttribute("data-topic", topic);
    const a = /** @type {HTMLAnchorElement} */ (el("a", undefined, topic));
    a.href = `/activity?topic=${encodeURIComponent(topic)}`;
    row.append(a, el("span", "count", 0));
    list.append(row);
    const select = byId("f-topic", HTMLSelectElement);
    if (select && ![...select.options].some((o) => o.value === topic)) {
      const opt = /** @type {HTMLOptionElement} */ (el("option", undefined, topic));
      opt.value = topic;
      select.append(opt);
    }
  }
  const n = row.querySelector(".count");
  if (n) n.textContent = String(Number(n.textContent) + 1);
}

if (cards && cards.dataset.live) {
  const max = Math.max(1, Number(cards.dataset.max) || 50);
  const pauseBtn = byId("pause", HTMLButtonElement);
  const heldEl = document.getElementById("held");
  const stream = document.getElementById("stream-status");
  /** @type {Set<string>} */
  const seen = new Set();
  for (const c of cards.querySelectorAll("li")) seen.add(c.getAttribute("data-event-id") ?? "");
  /** @type {DashEvent[]} */
  const held = [];
  let heldCount = 0;
  let paused = false;
  /** @type {{ state: string, error?: string }} */
  let relay = { state: "connecting" };

  /** @param {DashEvent} e */
  const show = (e) => {
    document.getElementById("no-events")?.remove();
    cards.prepend(makeCard(e));
    while (cards.children.length > max) {
      // The card holding the keyboard focus stays (the one above it goes): a keyboard or screen
      // reader user reading it is not sent to the top of the page by the next event.
      const last = cards.lastElementChild;
      const focused = last?.contains(document.activeElement) ? last : null;
      (focused?.previousElementSibling ?? last)?.remove();
    }
  };

  /** @param {DashEvent} e */
  const add = (e) => {
    if (!e || typeof e.event_id !== "string" || seen.has(e.event_id)) return;
    seen.add(e.event_id);
    if (seen.size > max * 20) seen.delete(seen.values().next().value ?? "");
    bump(e.topic);
    if (!matches(e)) return;
    if (paused) {
      held.push(e);
      heldCount++;
      if (held.length > max) held.shift();
      if (heldEl) heldEl.textContent = `${heldCount} new event${heldCount === 1 ? "" : "s"} held`;
      return;
    }
    show(e);
  };

  pauseBtn?.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    pauseBtn.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      for (const e of held.splice(0)) show(e);
      heldCount = 0;
      if (heldEl) heldEl.textContent = "";
    }
  });

  /** The last event received (a visible one), where a new stream resumes. */
  let lastId = cards.dataset.lastId ?? "";
  let streamUp = false;
  /**
   * Why the stream is down when the dashboard refused it (a 429 or 503), with when the page
   * retries; empty while the browser reconnects by itself.
   */
  let refusal = "";
  /** "live" only when both the page's stream and the relay are up: one story, never two. */
  const update = () => {
    showStatus(relay, streamUp, refusal);
    if (!stream) return;
    const live = streamUp && relay.state === "connected";
    stream.dataset.state = live
      ? "connected"
      : streamUp
      ? "waiting"
      : refusal
      ? "refused"
      : "reconnecting";
    stream.textContent = live
      ? "live"
      : streamUp
      ? "waiting for the relay"
      : refusal || "reconnecting…";
  };

  /** @type {EventSource | undefined} */
  let es;
  /** Retries in a row after a refusal (the backoff doubles with each, up to RETRY_MAX_S). */
  let attempt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let retryTimer;
  let probing = false;

  /**
   * EventSource tells no status: when the stream drops or is refused, a bodiless `HEAD /events`
   * (admitted by the same checks as the stream) asks why. A 401 sends the viewer to the login,
   * with this page (a same-site path) to come back to; a 429 (this viewer's stream limit) or a
   * 5xx (the dashboard's browser limit, or a service unavailable) is shown, and, once the
   * browser has given up on the stream, retried with backoff. Anything else leaves the browser
   * to reconnect.
   */
  const probe = async () => {
    if (probing) return;
    probing = true;
    /** @type {number} */
    let status;
    try {
      const res = await fetch("/events", {
        method: "HEAD",
        cache: "no-store",
        credentials: "same-origin",
      });
      status = res.status;
    } catch {
      status = 0; // the dashboard is unreachable
    } finally {
      probing = false;
    }
    if (status === 401) {
      es?.close();
      clearTimeout(retryTimer);
      location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
      return;
    }
    if (!es || es.readyState !== EventSource.CLOSED) return; // the browser is reconnecting
    const why = status === 429
      ? "too many live streams for this viewer: close other tabs of the dashboard"
      : status === 0
      ? "dashboard unreachable"
      : status >= 500
      ? "service unavailable"
      : "";
    retryIn(Math.min(RETRY_MAX_S, RETRY_MIN_S * 2 ** attempt++), why);
  };

  /**
   * Counts down `seconds` on the page, then opens a new stream.
   * @param {number} seconds
   * @param {string} why
   */
  const retryIn = (seconds, why) => {
    clearTimeout(retryTimer);
    if (seconds <= 0) {
      refusal = why ? `${why}; retrying now` : "";
      update();
      connect();
      return;
    }
    refusal = why ? `${why}; retrying in ${seconds} s` : "";
    update();
    retryTimer = setTimeout(() => retryIn(seconds - 1, why), 1000);
  };

  const connect = () => {
    es?.close();
    const source = new EventSource(
      `/events${lastId ? `?since=${encodeURIComponent(lastId)}` : ""}`,
    );
    es = source;
    source.addEventListener("message", (m) => {
      if (m.lastEventId) lastId = m.lastEventId;
      try {
        add(JSON.parse(m.data));
      } catch { /* a malformed frame is skipped */ }
    });
    source.addEventListener("status", (m) => {
      try {
        relay = JSON.parse(m.data).relay;
        update();
      } catch { /* ignored */ }
    });
    source.addEventListener("open", () => {
      streamUp = true;
      refusal = "";
      attempt = 0;
      update();
    });
    source.addEventListener("error", () => {
      if (source !== es) return;
      streamUp = false;
      update();
      void probe();
    });
  };
  connect();
}
