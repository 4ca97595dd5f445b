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
 * received: no event is lost or shown twice. A resume from a position the dashboard no longer
 * holds is said on the page (`#missed`), never silent.
 * Events are drawn at most once per animation frame, whatever the rate: what arrived since the
 * last frame is put on top in one DOM update and the list cut back in one; a hidden tab (no
 * frames) draws nothing until shown. Every list of events the page keeps is bounded by the page
 * size (`#cards` `data-max`, the `page_size` setting): the cards, the events waiting for the next
 * frame, those held while paused; the ids remembered against duplicates by 20 times it; the
 * counts waiting by the topic bound.
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
  const details = /** @type {HTMLDetailsElement} */ (el("details", "raw"));
  const pre = el("pre", "payload");
  details.append(el("summary", undefined, "Raw JSON"), pre);
  // Written when first opened: most live cards leave the page unopened.
  details.addEventListener("toggle", () => {
    if (!details.open || pre.firstChild) return;
    let raw = JSON.stringify(e.payload ?? {}, null, 2);
    if (raw.length > MAX_RAW_CHARS) raw = raw.slice(0, MAX_RAW_CHARS) + "\n…";
    pre.textContent = raw;
  });
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
 * The topic counters: a row per topic (and a filter choice), found by a map, never by a query.
 * Counts wait in `waiting` until the next frame draws them, one text update per topic.
 */
class Counters {
  /** @type {Map<string, HTMLElement>} the count of each listed topic */
  #rows = new Map();
  /** @type {Map<string, number>} counts not yet drawn, per topic */
  waiting = new Map();
  /** New topics among `waiting` (no row yet). */
  #fresh = 0;
  /** @type {Set<string>} the topic filter's choices */
  #options = new Set();
  #max = DEFAULT_MAX_TOPICS;
  /** @type {HTMLElement | null} */
  #list;
  #select = byId("f-topic", HTMLSelectElement);

  constructor() {
    this.#list = document.getElementById("counters");
    if (this.#list) {
      this.#max = maxTopics(this.#list);
      for (const row of this.#list.querySelectorAll("li[data-topic]")) {
        const n = row.querySelector(".count");
        if (n instanceof HTMLElement) this.#rows.set(row.getAttribute("data-topic") ?? "", n);
      }
    }
    for (const o of this.#select?.options ?? []) this.#options.add(o.value);
  }

  /**
   * Counts one event of `topic`: a topic not listed yet gets a row (and a filter choice) while
   * the list holds fewer than the server's bound; beyond it, as on the server, it is not counted.
   * Returns whether a counter changed (to be drawn).
   * @param {string} topic
   * @returns {boolean}
   */
  bump(topic) {
    if (!this.#list) return false;
    const had = this.waiting.get(topic);
    if (had === undefined && !this.#rows.has(topic)) {
      // Rows drawn plus new topics waiting stay within the bound.
      if (this.#rows.size + this.#fresh >= this.#max) return false;
      this.#fresh++;
    }
    this.waiting.set(topic, (had ?? 0) + 1);
    return true;
  }

  /** Draws the waiting counts: new rows appended at once, each count's text set once. */
  draw() {
    if (!this.#list || this.waiting.size === 0) return;
    const rows = document.createDocumentFragment();
    const options = document.createDocumentFragment();
    for (const [topic, n] of this.waiting) {
      let count = this.#rows.get(topic);
      if (!count) {
        const row = el("li");
        row.setAttribute("data-topic", topic);
        const a = /** @type {HTMLAnchorElement} */ (el("a", undefined, topic));
        a.href = `/activity?topic=${encodeURIComponent(topic)}`;
        count = el("span", "count", 0);
        row.append(a, count);
        rows.append(row);
        this.#rows.set(topic, count);
        if (this.#select && !this.#options.has(topic)) {
          const opt = /** @type {HTMLOptionElement} */ (el("option", undefined, topic));
          opt.value = topic;
          options.append(opt);
          this.#options.add(topic);
        }
      }
      count.textContent = String(Number(count.textContent) + n);
    }
    this.waiting.clear();
    this.#fresh = 0;
    if (rows.childNodes.length > 0) this.#list.append(rows);
    if (options.childNodes.length > 0) this.#select?.append(options);
  }
}

if (cards && cards.dataset.live) {
  /**
   * The row bound: cards on the page (page_size). It bounds every list of events the page keeps
   * too: at most this many wait for the next frame (older ones waiting would leave the page in
   * that same frame, so they are dropped unbuilt) and at most this many are held while paused.
   */
  const max = Math.max(1, Number(cards.dataset.max) || 50);
  /** Event ids remembered to drop an event delivered twice: this many per card. */
  const SEEN_PER_CARD = 20;
  const pauseBtn = byId("pause", HTMLButtonElement);
  const heldEl = document.getElementById("held");
  const stream = document.getElementById("stream-status");
  const missed = document.getElementById("missed");
  const counters = new Counters();
  /** @type {Set<string>} */
  const seen = new Set();
  for (const c of cards.querySelectorAll("li")) seen.add(c.getAttribute("data-event-id") ?? "");
  /** @type {DashEvent[]} events to draw at the next frame, oldest first (at most `max`) */
  let waiting = [];
  /** @type {DashEvent[]} */
  const held = [];
  let heldCount = 0;
  let heldDrawn = 0;
  let paused = false;
  /** @type {{ state: string, error?: string }} */
  let relay = { state: "connecting" };
  /** The pending frame's request, 0 when none. */
  let frame = 0;
  /** @type {WeakMap<DashEvent, string>} the stream position of each live event */
  const positions = new WeakMap();

  /**
   * Everything the stream brought since the last frame, drawn in one go: new cards built newest
   * first into a fragment and put on top at once, the list cut back to `max` in one range, each
   * changed counter set once. At most one draw per animation frame, whatever the event rate; a
   * hidden tab draws nothing until it is shown (what waits stays bounded meanwhile).
   */
  const draw = () => {
    frame = 0;
    // Read before any change: the page was laid out by the last frame, so this costs no layout.
    const anchor = waiting.length > 0 && scrollY > 0 ? firstInView() : null;
    const anchorTop = anchor?.getBoundingClientRect().top ?? 0;
    counters.draw();
    if (heldEl && heldDrawn !== heldCount) {
      heldEl.textContent = heldCount === 0
        ? ""
        : `${heldCount} new event${heldCount === 1 ? "" : "s"} held`;
      heldDrawn = heldCount;
    }
    if (waiting.length === 0) return;
    document.getElementById("no-events")?.remove();
    const fresh = document.createDocumentFragment();
    for (let i = waiting.length - 1; i >= 0; i--) {
      const card = makeCard(waiting[i]);
      const at = positions.get(waiting[i]);
      if (at) card.dataset.position = at;
      fresh.append(card);
    }
    waiting = [];
    cards.prepend(fresh);
    trim();
    // A viewer scrolled down to read stays on the card read: the page moves by what was added
    // above it (at the top, the newest come into view instead).
    if (anchor?.isConnected) {
      const shift = anchor.getBoundingClientRect().top - anchorTop;
      if (shift !== 0) scrollBy(0, shift);
    }
  };

  /**
   * The first card at least partly in view, if any.
   * @returns {Element | null}
   */
  const firstInView = () => {
    for (const c of cards.children) if (c.getBoundingClientRect().bottom > 0) return c;
    return null;
  };

  /**
   * Cuts the list back to `max` cards, dropping the oldest. The card holding the keyboard focus
   * stays (the ones above it give way): a keyboard or screen reader user reading it is not sent
   * to the top of the page by the next events.
   */
  const trim = () => {
    const list = cards.children;
    if (list.length <= max) return;
    const active = document.activeElement;
    const focused = active && cards.contains(active) ? active.closest("#cards > li") : null;
    const at = focused ? Array.prototype.indexOf.call(list, focused) : -1;
    const range = document.createRange();
    if (at >= max) {
      range.setStartBefore(list[max - 1]);
      range.setEndBefore(list[at]);
      range.deleteContents();
      if (list.length > max) {
        range.setStartAfter(list[max - 1]);
        range.setEndAfter(list[list.length - 1]);
        range.deleteContents();
      }
      // Paging back goes on from the card above the kept one: those between them are gone.
      older(max > 1 ? list[max - 2] : null);
    } else {
      range.setStartBefore(list[max]);
      range.setEndAfter(list[list.length - 1]);
      range.deleteContents();
      older(cards.lastElementChild);
    }
  };

  /**
   * Points "Older events" below `card` once live events pushed older cards off the page, so
   * paging back goes on from the oldest card shown, skipping none (cards rendered by the server
   * keep the link the server wrote).
   * @param {Element | null} card
   */
  const older = (card) => {
    const at = card instanceof HTMLElement ? card.dataset.position : undefined;
    if (!at) return;
    let link = byId("older", HTMLAnchorElement);
    if (!link) {
      const pager = el("p", "pager");
      link = /** @type {HTMLAnchorElement} */ (el("a", undefined, "Older events"));
      link.id = "older";
      pager.append(link);
      cards.after(pager);
    }
    const q = new URLSearchParams();
    for (const k of ["tx", "agent", "topic", "decision", "q"]) {
      const v = params.get(k);
      if (v) q.set(k, v);
    }
    q.set("before", at);
    link.href = `/activity?${q}`;
  };

  const schedule = () => {
    if (frame === 0) frame = requestAnimationFrame(draw);
  };

  /**
   * @param {DashEvent} e
   * @param {string} position its stream position (the SSE id)
   */
  const add = (e, position) => {
    if (!e || typeof e.event_id !== "string" || seen.has(e.event_id)) return;
    positions.set(e, position);
    seen.add(e.event_id);
    if (seen.size > max * SEEN_PER_CARD) seen.delete(seen.values().next().value ?? "");
    if (counters.bump(e.topic)) schedule();
    if (!matches(e)) return;
    if (paused) {
      held.push(e);
      heldCount++;
      if (held.length > max) held.shift();
      schedule();
      return;
    }
    waiting.push(e);
    if (waiting.length > max) waiting.shift();
    schedule();
  };

  pauseBtn?.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    pauseBtn.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      waiting = waiting.concat(held.splice(0)).slice(-max);
      heldCount = 0;
      schedule();
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
        add(JSON.parse(m.data), m.lastEventId);
      } catch { /* a malformed frame is skipped */ }
    });
    // The position it resumed from is no longer held (evicted, or a relay reset): the events
    // between it and the newest the stream starts with are not on the page, and it says so.
    source.addEventListener("reset", () => {
      if (!missed) return;
      missed.textContent = "Events were missed while the page was disconnected (the dashboard " +
        "no longer held the last one shown); the newest follow. Reload the page to page back " +
        "through those still held.";
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
