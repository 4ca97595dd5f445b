/**
 * The overview, live: re-fetches the page on a timer, swaps every section marked `data-live`
 * for its new rendering (parsed as an inert document: scripts in it never run), and draws the
 * decisions chart with uPlot from the `data-chart` JSON.
 * @module
 */
import uPlotModule from "../vendor/uplot/uPlot.esm.js";
import { initMenu, showStatus } from "./common.js";

/**
 * The part of uPlot this page uses. (uPlot ships full declarations; they are not vendored, since
 * Deno would then check them with the server's DOM-less options, see client/deno.json.)
 * @typedef {{
 *   setData(data: number[][]): void,
 *   setSize(size: { width: number, height: number }): void,
 * }} Chart
 * @typedef {new (opts: Record<string, unknown>, data: number[][], target: HTMLElement) => Chart}
 *   ChartConstructor
 */

/** The vendored uPlot, typed as {@link ChartConstructor} (its plain JS module has no types). */
const uPlot = /** @type {ChartConstructor} */ (/** @type {unknown} */ (uPlotModule));

initMenu();

const KINDS = /** @type {const} */ (["allow", "warn", "deny", "block"]);
const COLORS = { allow: "#17663a", warn: "#8a5300", deny: "#b3261e", block: "#6d1b7b" };

/**
 * @typedef {{ minutes: number[], series: Record<string, number[]> }} ChartData
 */

/**
 * @param {Element | null} node
 * @returns {ChartData | undefined}
 */
function chartDataOf(node) {
  const text = node instanceof HTMLElement ? node.dataset.chart : undefined;
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * @param {ChartData} d
 * @returns {number[][]}
 */
function aligned(d) {
  return [d.minutes, ...KINDS.map((k) => d.series[k] ?? d.minutes.map(() => 0))];
}

/**
 * The y range: from zero, at least 0..4 so a quiet minute does not look like a spike.
 * @param {unknown} _u
 * @param {number} _min
 * @param {number} max
 * @returns {[number, number]}
 */
function yRange(_u, _min, max) {
  return [0, Math.max(4, max)];
}

const box = document.getElementById("chart");
/** @type {Chart | undefined} */
let chart;

function chartWidth() {
  return Math.max(240, (box?.clientWidth ?? 600) - 4);
}

const first = chartDataOf(box);
if (box && first) {
  chart = new uPlot(
    {
      width: chartWidth(),
      height: 220,
      padding: [8, 28, 0, 0],
      scales: { x: { time: true }, y: { range: yRange } },
      axes: [{}, { label: "decisions / min", size: 56 }],
      // The totals under the chart, in the same colours, are its legend.
      legend: { show: false },
      series: [
        { label: "minute" },
        ...KINDS.map((k) => ({
          label: k,
          stroke: COLORS[k],
          width: 2,
          points: { show: false },
        })),
      ],
    },
    aligned(first),
    box,
  );
  box.dataset.ready = "1";
  globalThis.addEventListener("resize", () => chart?.setSize({ width: chartWidth(), height: 220 }));
}

const generated = document.getElementById("generated");
const refreshMs = Math.max(500, Number(generated?.dataset.refresh) || 2000);
/** How long one refresh waits for its answer before the page says the dashboard is not answering. */
const answerMs = Math.max(5000, refreshMs * 4);
let updates = 0;

/**
 * Gives the keyboard focus back after the section holding it was swapped: to the same link or
 * control in the new rendering (same element, target and text), else to the section itself, so a
 * keyboard or screen reader user keeps their place instead of being sent to the top of the page.
 * @param {HTMLElement} old the element that had the focus
 * @param {HTMLElement} section its section's new rendering
 */
function refocus(old, section) {
  const same = (/** @type {Element} */ e) =>
    e.tagName === old.tagName && e.getAttribute("href") === old.getAttribute("href");
  const candidates = [...section.querySelectorAll(old.tagName)].filter(same);
  const target = candidates.find((e) => e.textContent === old.textContent) ?? candidates[0];
  if (target instanceof HTMLElement) {
    target.focus({ preventScroll: true });
    return;
  }
  section.tabIndex = -1;
  section.focus({ preventScroll: true });
}

async function refresh() {
  let html;
  try {
    const res = await fetch(location.pathname, {
      headers: { accept: "text/html" },
      signal: AbortSignal.timeout(answerMs),
    });
    if (res.redirected && new URL(res.url).pathname === "/login") {
      location.assign(res.url);
      return;
    }
    if (!res.ok) throw new Error(`the dashboard answered ${res.status}`);
    html = await res.text();
  } catch (err) {
    const timedOut = err instanceof DOMException && err.name === "TimeoutError";
    const why = timedOut
      ? `no answer within ${answerMs / 1000} s, retrying`
      : err instanceof Error && err.message.startsWith("the dashboard answered")
      ? `${err.message}, retrying`
      : undefined;
    showStatus({ state: "connected" }, false, why);
    return;
  }
  const doc = new DOMParser().parseFromString(html, "text/html");
  const focused = document.activeElement;
  for (const node of document.querySelectorAll("[data-live]")) {
    const fresh = node.id ? doc.getElementById(node.id) : null;
    if (!fresh) continue;
    const imported = /** @type {HTMLElement} */ (document.importNode(fresh, true));
    const hadFocus = focused instanceof HTMLElement && node.contains(focused);
    node.replaceWith(imported);
    if (hadFocus) refocus(focused, imported);
  }
  const status = doc.getElementById("relay-status");
  const mine = document.getElementById("relay-status");
  if (status && mine) {
    mine.dataset.state = status.dataset.state ?? "";
    mine.textContent = status.textContent;
    mine.title = status.title;
  }
  const data = chartDataOf(doc.getElementById("chart"));
  if (chart && data) chart.setData(aligned(data));
  updates++;
  if (box) box.dataset.updates = String(updates);
}

/** Refreshes, then waits `refreshMs` before the next one: a slow answer never overlaps another. */
async function refreshLoop() {
  try {
    await refresh();
  } finally {
    setTimeout(() => void refreshLoop(), refreshMs);
  }
}

setTimeout(() => void refreshLoop(), refreshMs);
