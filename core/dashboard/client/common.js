/**
 * Shared browser helpers of the dashboard: element building (text only, never markup), the
 * collapsing sidebar, the one status indicator, and short times.
 * @module
 */

/**
 * Creates an element with an optional class and text (set as text, never parsed as markup).
 * @param {string} tag
 * @param {string} [cls]
 * @param {string | number} [text]
 * @returns {HTMLElement}
 */
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

/**
 * The element with `id`, typed as `T`.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T | undefined}
 */
export function byId(id, type) {
  const e = document.getElementById(id);
  return e instanceof type ? e : undefined;
}

/**
 * HH:MM:SS of an ISO time, as the server renders it.
 * @param {string} iso
 * @returns {string}
 */
function shortTime(iso) {
  return /T(\d\d:\d\d:\d\d)/.exec(iso)?.[1] ?? iso;
}

/**
 * A `<time>` element for an ISO timestamp.
 * @param {string} iso
 * @returns {HTMLElement}
 */
export function timeEl(iso) {
  const t = el("time", undefined, shortTime(iso));
  t.setAttribute("datetime", iso);
  t.title = iso;
  return t;
}

/** Wires the menu button that shows and hides the sidebar on narrow screens. */
export function initMenu() {
  const button = byId("menu-toggle", HTMLButtonElement);
  const sidebar = document.getElementById("sidebar");
  if (!button || !sidebar) return;
  button.addEventListener("click", () => {
    const open = !sidebar.classList.contains("open");
    sidebar.classList.toggle("open", open);
    button.setAttribute("aria-expanded", String(open));
    if (open) sidebar.querySelector("a")?.focus();
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && sidebar.classList.contains("open")) {
      sidebar.classList.remove("open");
      button.setAttribute("aria-expanded", "false");
      button.focus();
    }
  });
}

/**
 * @typedef {{ state: string, error?: string }} RelayState
 */

/**
 * Shows the one status indicator: the relay's state, unless the dashboard's own stream is lost.
 * @param {RelayState} relay
 * @param {boolean} streamUp
 * @param {string} [lost] why the stream is down, when the dashboard said
 */
export function showStatus(relay, streamUp, lost) {
  const s = document.getElementById("relay-status");
  if (!s) return;
  if (!streamUp) {
    s.dataset.state = "stream-lost";
    s.textContent = lost
      ? `dashboard connection lost: ${lost}`
      : "dashboard connection lost, reconnecting";
    s.title = "";
    return;
  }
  s.dataset.state = relay.state;
  s.textContent = relay.state === "connected"
    ? "relay connected"
    : relay.state === "connecting"
    ? "connecting to relay…"
    : relay.state === "failed"
    ? "live feed stopped (see the dashboard's log); restart the dashboard"
    : "relay unreachable, retrying";
  s.title = relay.error ?? "";
}
