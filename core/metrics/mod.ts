/**
 * Prometheus text exposition (format 0.0.4): counters, gauges and histograms with labels.
 *
 * The API mirrors prom-client's (`new Counter({name, help, labelNames, registers})`, `inc`,
 * `observe`, `registry.metrics()`), but iatp carries its own: prom-client makes `deno compile`
 * 2.9.x overflow its stack (denoland/deno#36746), and the single binary matters more.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const hits = new Counter({ name: "hits_total", help: "Hits.", labelNames: ["route"], registers: [registry] });
 * hits.inc({ route: "/a" });
 * const text = await registry.metrics();
 * ```
 * @module
 */
export { mergeExpositions, sumOfMetric } from "./merge.ts";

/** Label values by label name. */
export type Labels<L extends string = string> = Partial<Record<L, string | number>>;

/** Anything a registry can render. */
export interface Metric {
  readonly name: string;
  render(defaults: Labels): string | Promise<string>;
}

/** Most label combinations one metric keeps (a guard against unbounded cardinality). */
export const MAX_SERIES_PER_METRIC = 10_000;

/** A set of metrics rendered together. */
export class Registry {
  /** The exposition content type. */
  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";
  #metrics = new Map<string, Metric>();
  #defaults: Labels = {};

  /** Labels added to every series (e.g. `{service: "relay"}`). */
  setDefaultLabels(labels: Labels): void {
    this.#defaults = { ...labels };
  }

  /** Adds a metric; names must be unique. */
  registerMetric(metric: Metric): void {
    if (this.#metrics.has(metric.name)) {
      throw new Error(`metric ${metric.name} is already registered`);
    }
    this.#metrics.set(metric.name, metric);
  }

  /** The metric with this name, if any. */
  getSingleMetric(name: string): Metric | undefined {
    return this.#metrics.get(name);
  }

  /** The whole exposition text. */
  async metrics(): Promise<string> {
    const parts: string[] = [];
    for (const m of this.#metrics.values()) parts.push(await m.render(this.#defaults));
    return parts.join("");
  }
}

/** Options shared by every metric type. */
interface MetricOptions<L extends string, T = unknown> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers?: Registry[];
  /** Called (with the metric as `this`) before rendering, to refresh the value (e.g. RSS). */
  collect?: (this: T) => void | Promise<void>;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labelText(labels: Labels, defaults: Labels, extra?: [string, string]): string {
  const pairs: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (v !== undefined) pairs.push(`${k}="${escapeLabel(String(v))}"`);
  }
  for (const [k, v] of Object.entries(defaults)) {
    if (v !== undefined && !(k in labels)) pairs.push(`${k}="${escapeLabel(String(v))}"`);
  }
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length ? `{${pairs.join(",")}}` : "";
}

abstract class Base<L extends string, S> implements Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  protected series = new Map<string, { labels: Labels<L>; state: S }>();
  #collect?: (this: unknown) => void | Promise<void>;
  /** Bumped by reset() so bound series handles look their series up again. */
  #generation = 0;

  // deno-lint-ignore no-explicit-any -- each subclass narrows `this` of collect to itself
  constructor(opts: MetricOptions<L, any>, readonly type: string) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(opts.name)) {
      throw new Error(`bad metric name ${opts.name}`);
    }
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames ?? [];
    this.#collect = opts.collect;
    for (const r of opts.registers ?? []) r.registerMetric(this);
  }

  protected abstract fresh(): S;

  protected slot(labels: Labels<L> = {}): S {
    const names = this.labelNames;
    let key = "";
    for (let i = 0; i < names.length; i++) {
      const v = labels[names[i]];
      key = i === 0 ? String(v ?? "") : key + "\u0000" + String(v ?? "");
    }
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= MAX_SERIES_PER_METRIC) {
        // Past the bound, fold new combinations into one overflow series rather than grow.
        key = "\u0001overflow";
        labels = Object.fromEntries(this.labelNames.map((n) => [n, "_overflow"])) as Labels<L>;
        s = this.series.get(key);
      }
      if (!s) {
        s = { labels: { ...labels }, state: this.fresh() };
        this.series.set(key, s);
      }
    }
    return s.state;
  }

  /**
   * The state of one series, looked up once: for hot paths that update the same labels over
   * and over. The handle stays valid across reset() (it looks the series up again).
   */
  protected bind(labels: Labels<L> = {}): () => S {
    const fixed = { ...labels };
    let generation = -1;
    let state: S;
    return () => {
      if (generation !== this.#generation) {
        state = this.slot(fixed);
        generation = this.#generation;
      }
      return state;
    };
  }

  /** Drops every series. */
  reset(): void {
    this.series.clear();
    this.#generation++;
  }

  protected abstract lines(labels: Labels<L>, state: S, defaults: Labels): string[];

  async render(defaults: Labels): Promise<string> {
    if (this.#collect) await this.#collect.call(this);
    const out = [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.type}`,
    ];
    if (this.series.size === 0 && this.labelNames.length === 0) this.slot();
    for (const { labels, state } of this.series.values()) {
      out.push(...this.lines(labels, state, defaults));
    }
    return out.join("\n") + "\n";
  }
}

/** A monotonically increasing counter. */
export class Counter<L extends string = string> extends Base<L, { v: number }> {
  constructor(opts: MetricOptions<L, Counter<L>>) {
    super(opts, "counter");
  }
  protected fresh() {
    return { v: 0 };
  }
  /** Adds `value` (default 1) to the series for `labels`. */
  inc(labels?: Labels<L> | number, value = 1): void {
    if (typeof labels === "number") [labels, value] = [undefined, labels];
    if (value < 0) throw new RangeError("counters only go up");
    this.slot(labels).v += value;
  }
  /** Current value of a series. */
  get(labels?: Labels<L>): number {
    return this.slot(labels).v;
  }
  /** A handle on one series (labels resolved once), like prom-client's `labels()`. */
  labels(labels: Labels<L>): { inc(value?: number): void; get(): number } {
    const state = this.bind(labels);
    return {
      inc(value = 1) {
        if (value < 0) throw new RangeError("counters only go up");
        state().v += value;
      },
      get: () => state().v,
    };
  }
  protected lines(labels: Labels<L>, s: { v: number }, d: Labels) {
    return [`${this.name}${labelText(labels, d)} ${formatValue(s.v)}`];
  }
}

/** A value that goes up and down. */
export class Gauge<L extends string = string> extends Base<L, { v: number }> {
  constructor(opts: MetricOptions<L, Gauge<L>>) {
    super(opts, "gauge");
  }
  protected fresh() {
    return { v: 0 };
  }
  /** Sets the value. */
  set(labels: Labels<L> | number, value?: number): void {
    if (typeof labels === "number") this.slot().v = labels;
    else this.slot(labels).v = value ?? 0;
  }
  /** Adds to the value. */
  inc(labels?: Labels<L> | number, value = 1): void {
    if (typeof labels === "number") [labels, value] = [undefined, labels];
    this.slot(labels).v += value;
  }
  /** Subtracts from the value. */
  dec(labels?: Labels<L> | number, value = 1): void {
    if (typeof labels === "number") [labels, value] = [undefined, labels];
    this.slot(labels).v -= value;
  }
  /** Current value of a series. */
  get(labels?: Labels<L>): number {
    return this.slot(labels).v;
  }
  protected lines(labels: Labels<L>, s: { v: number }, d: Labels) {
    return [`${this.name}${labelText(labels, d)} ${formatValue(s.v)}`];
  }
}

/** Default histogram buckets (seconds), as in the Prometheus client libraries. */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type HistState = { counts: number[]; sum: number; count: number };

/** A histogram with cumulative buckets. */
export class Histogram<L extends string = string> extends Base<L, HistState> {
  readonly buckets: number[];
  constructor(opts: MetricOptions<L, Histogram<L>> & { buckets?: number[] }) {
    super(opts, "histogram");
    this.buckets = [...(opts.buckets ?? DEFAULT_BUCKETS)].sort((a, b) => a - b);
  }
  protected fresh(): HistState {
    return { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
  }
  /** Records one observation. */
  observe(labels: Labels<L> | number, value?: number): void {
    let l: Labels<L> | undefined;
    if (typeof labels === "number") value = labels;
    else l = labels;
    this.#add(this.slot(l), value ?? 0);
  }
  /** A handle on one series (labels resolved once), like prom-client's `labels()`. */
  labels(labels: Labels<L>): { observe(value: number): void } {
    const state = this.bind(labels);
    return { observe: (value) => this.#add(state(), value) };
  }
  #add(s: HistState, v: number): void {
    s.sum += v;
    s.count++;
    for (let i = 0; i < this.buckets.length; i++) {
      if (v <= this.buckets[i]) {
        s.counts[i]++;
        break;
      }
    }
  }
  protected lines(labels: Labels<L>, s: HistState, d: Labels) {
    const out: string[] = [];
    let cum = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cum += s.counts[i];
      out.push(
        `${this.name}_bucket${labelText(labels, d, ["le", formatValue(this.buckets[i])])} ${cum}`,
      );
    }
    out.push(`${this.name}_bucket${labelText(labels, d, ["le", "+Inf"])} ${s.count}`);
    out.push(`${this.name}_sum${labelText(labels, d)} ${formatValue(s.sum)}`);
    out.push(`${this.name}_count${labelText(labels, d)} ${s.count}`);
    return out;
  }
}
