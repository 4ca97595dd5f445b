/**
 * Adds up Prometheus expositions of several isolates of one service (`--workers`) into one: the
 * same series (name and labels) summed, `process_*` gauges (one value for the whole process,
 * reported by every isolate) taken once, the idle reclaim's last pause the longest isolate's,
 * comments kept from their first appearance.
 * @module
 */

/**
 * Gauges that are one isolate's figure, not a share of a total: merged as the largest part's
 * value. The idle reclaim's last pause (core/http/reclaim.ts): each isolate pauses alone, so a
 * sum would report a pause nobody saw.
 */
const LARGEST_OF: ReadonlySet<string> = new Set(["iatp_memory_reclaim_pause_seconds"]);

/** One sample line split into its series key and value. */
function splitSample(line: string): [string, number] | undefined {
  const cut = line.lastIndexOf(" ");
  if (cut <= 0) return undefined;
  const value = Number(line.slice(cut + 1));
  return Number.isNaN(value) ? undefined : [line.slice(0, cut), value];
}

/** The metric name of a sample's series key (`name{...}` or `name`). */
function nameOf(series: string): string {
  const brace = series.indexOf("{");
  return brace < 0 ? series : series.slice(0, brace);
}

/**
 * Merges expositions: counters, histogram buckets, sums and counts and ordinary gauges are
 * summed over the parts; a `process_*` series is the largest part's value (every isolate of one
 * process reports the same process figure), and so is the idle reclaim's last pause.
 * @example
 * ```ts
 * mergeExpositions(["# TYPE a counter\na 1\n", "# TYPE a counter\na 2\n"]); // "# TYPE a counter\na 3\n"
 * ```
 */
export function mergeExpositions(parts: string[]): string {
  /** Family name -> its comment lines and series keys, in first-seen order. */
  const families = new Map<string, { comments: string[]; series: string[] }>();
  const values = new Map<string, number>();
  const familyOf = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, f = { comments: [], series: [] });
    return f;
  };
  for (const text of parts) {
    // Samples belong to the family the last comment named (histograms: _bucket, _sum, _count).
    let current = "";
    for (const line of text.split("\n")) {
      if (line === "") continue;
      if (line.startsWith("#")) {
        current = line.split(" ")[2] ?? "";
        const f = familyOf(current);
        if (!f.comments.includes(line)) f.comments.push(line);
        continue;
      }
      const sample = splitSample(line);
      if (!sample) continue;
      const [series, value] = sample;
      const old = values.get(series);
      if (old === undefined) {
        values.set(series, value);
        familyOf(current || nameOf(series)).series.push(series);
      } else if (nameOf(series).startsWith("process_") || LARGEST_OF.has(nameOf(series))) {
        values.set(series, Math.max(old, value));
      } else {
        values.set(series, old + value);
      }
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(...f.comments);
    for (const k of f.series) out.push(`${k} ${values.get(k)}`);
  }
  return out.length ? out.join("\n") + "\n" : "";
}

/** The sum of every sample of metric `name` in one exposition (e.g. all request counters). */
export function sumOfMetric(text: string, name: string): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const sample = splitSample(line);
    if (sample && nameOf(sample[0]) === name) total += sample[1];
  }
  return total;
}
