/**
 * The dashboard's browser script, served same-origin as `/static/app.js` (the CSP allows no
 * inline script). It builds every card with createElement + textContent: relay payloads are
 * untrusted and never reach innerHTML. Kept in a module so `deno compile` embeds it and the
 * dashboard needs no file-read permission.
 * @module
 */

/** The script text. */
export const CLIENT_JS = `"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const cards = $("cards");
  const statusEl = $("relay-status");
  const streamEl = $("stream-status");
  const filter = $("topic-filter");
  const pauseBtn = $("pause");
  const heldEl = $("held");
  const counters = $("counters");
  const MAX_CARDS = Number(cards.dataset.max) || 500;
  const MAX_HELD = 2000;
  const DECISIONS = new Set(["allow", "deny", "block", "warn"]);
  const seen = new Set();
  const held = [];
  let paused = false;

  for (const c of cards.children) seen.add(c.dataset.eventId);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function txOf(p) {
    const v = p && (typeof p.tx_id === "string" ? p.tx_id : typeof p.trace_id === "string" ? p.trace_id : undefined);
    return v && /^[A-Za-z0-9._:-]{1,128}$/.test(v) ? v : undefined;
  }

  function makeCard(e) {
    const p = e.payload || {};
    const li = el("li", "card");
    li.dataset.topic = e.topic;
    li.dataset.eventId = e.event_id;
    const head = el("div", "card-head");
    head.append(el("span", "topic", e.topic), el("time", "ts", e.ts));
    if (typeof p.decision === "string" && DECISIONS.has(p.decision)) {
      head.append(el("span", "pill pill-" + p.decision, p.decision));
    }
    const tx = txOf(p);
    if (tx) {
      const a = el("a", "tx", "tx " + tx);
      a.href = "/tx/" + encodeURIComponent(tx);
      head.append(a);
    }
    let body = JSON.stringify(p, null, 2);
    if (body.length > 4000) body = body.slice(0, 4000) + "\\n…";
    li.append(head, el("pre", "payload", body));
    li.hidden = !!filter.value && filter.value !== e.topic;
    return li;
  }

  function bump(topic) {
    let row = counters.querySelector('li[data-topic="' + CSS.escape(topic) + '"]');
    if (!row) {
      row = el("li");
      row.dataset.topic = topic;
      row.append(el("span", "topic", topic), el("span", "count", 0));
      counters.append(row);
      const opt = el("option", undefined, topic);
      opt.value = topic;
      filter.append(opt);
    }
    const n = row.querySelector(".count");
    n.textContent = String(Number(n.textContent) + 1);
  }

  function show(e) {
    cards.prepend(makeCard(e));
    while (cards.children.length > MAX_CARDS) cards.lastElementChild.remove();
  }

  function add(e) {
    if (!e || typeof e.event_id !== "string" || seen.has(e.event_id)) return;
    seen.add(e.event_id);
    if (seen.size > MAX_CARDS * 4) seen.delete(seen.values().next().value);
    bump(e.topic);
    if (paused) {
      held.push(e);
      if (held.length > MAX_HELD) held.shift();
      heldEl.textContent = held.length + " new";
      return;
    }
    show(e);
  }

  function setRelay(s) {
    statusEl.dataset.state = s.state;
    statusEl.textContent = s.state === "connected"
      ? "relay connected"
      : s.state === "connecting"
      ? "connecting to relay…"
      : "relay unreachable, retrying";
    statusEl.title = s.error || "";
  }

  filter.addEventListener("change", () => {
    for (const c of cards.children) c.hidden = !!filter.value && filter.value !== c.dataset.topic;
  });
  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    pauseBtn.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      for (const e of held.splice(0)) show(e);
      heldEl.textContent = "";
    }
  });

  const since = cards.dataset.lastId;
  const es = new EventSource("/events" + (since ? "?since=" + encodeURIComponent(since) : ""));
  es.addEventListener("message", (m) => {
    try {
      add(JSON.parse(m.data));
    } catch (_) { /* a malformed frame is skipped */ }
  });
  es.addEventListener("status", (m) => {
    try {
      setRelay(JSON.parse(m.data).relay);
    } catch (_) { /* ignore */ }
  });
  es.addEventListener("open", () => {
    streamEl.dataset.state = "connected";
    streamEl.textContent = "live";
  });
  es.addEventListener("error", () => {
    streamEl.dataset.state = "reconnecting";
    streamEl.textContent = "dashboard stream lost, reconnecting";
  });
  window.__dashboard = { seen: () => seen.size };
})();
`;

/** The stylesheet, served as `/static/app.css` (the CSP allows no inline style). */
export const CLIENT_CSS = `
:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f6f7f9; }
body { margin: 0; }
header { display: flex; gap: 1rem; align-items: center; padding: .75rem 1rem; background: #1b1f24; color: #fff; flex-wrap: wrap; }
header h1 { font-size: 1.1rem; margin: 0; }
header a { color: #cde; }
.status { padding: .15rem .6rem; border-radius: 1rem; font-size: .85rem; background: #555; }
.status[data-state="connected"] { background: #1f7a3a; }
.status[data-state="unreachable"], .status[data-state="reconnecting"] { background: #b3261e; }
.controls { display: flex; gap: .5rem; align-items: center; margin-left: auto; }
main { display: grid; grid-template-columns: 14rem 1fr; gap: 1rem; padding: 1rem; }
#counters { list-style: none; padding: 0; margin: 0; }
#counters li { display: flex; justify-content: space-between; padding: .2rem 0; border-bottom: 1px solid #dde; }
#cards { list-style: none; margin: 0; padding: 0; }
.card { background: #fff; border: 1px solid #dde; border-radius: .4rem; margin-bottom: .5rem; padding: .5rem .75rem; }
.card-head { display: flex; gap: .75rem; align-items: center; font-size: .85rem; flex-wrap: wrap; }
.topic { font-weight: 600; }
.ts { color: #667; }
.payload { margin: .4rem 0 0; font-size: .8rem; white-space: pre-wrap; word-break: break-word; max-height: 16rem; overflow: auto; }
.pill { padding: .05rem .55rem; border-radius: 1rem; color: #fff; font-weight: 600; text-transform: uppercase; font-size: .75rem; }
.pill-allow { background: #1f7a3a; } .pill-warn { background: #a86b00; }
.pill-deny { background: #b3261e; } .pill-block { background: #6d1b7b; }
.verified { color: #1f7a3a; font-weight: 600; } .failed { color: #b3261e; font-weight: 600; }
section { background: #fff; border: 1px solid #dde; border-radius: .4rem; padding: .5rem 1rem; margin: 1rem; }
.note { color: #667; }
`;
