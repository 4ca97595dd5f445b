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
let updates = 0;

async function refresh() {
  let html;
  try {
    const res = await fetch(location.pathname, { headers: { accept: "text/html" } });
    if (res.redirected && new URL(res.url).pathname === "/login") {
      location.assign(res.url);
      return;
    }
    if (!res.ok) throw new Error(`answered ${res.status}`);
    html = await res.text();
  } catch {
    showStatus({ state: "connected" }, false);
    return;
  }
  const doc = new DOMParser().parseFromString(html, "text/html");
  for (const node of document.querySelectorAll("[data-live]")) {
    const fresh = node.id ? doc.getElementById(node.id) : null;
    if (fresh) node.replaceWith(document.importNode(fresh, true));
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

setInterval(() => void refresh(), refreshMs);
