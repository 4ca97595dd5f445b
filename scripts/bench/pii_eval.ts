/**
 * Precision and recall of the card and SSN detectors on the labelled Presidio synthetic set
 * (microsoft/presidio-research synth_dataset_v2, MIT). Prints JSON.
 *
 * Usage: deno run --allow-read scripts/bench/pii_eval.ts [path/to/presidio_synth_dataset_v2.json]
 *
 * A detection is a true positive when it overlaps a labelled span of the same type, a false
 * positive otherwise; a labelled span no detection overlaps is a false negative.
 * @module
 */
import { type PiiKind, scanPii } from "../../core/pii/mod.ts";

/** Default location of the dataset in this workspace. */
export const DEFAULT_DATASET = "/work/shared/data/pii/presidio_synth_dataset_v2.json";

interface Sample {
  full_text: string;
  spans: Array<
    { entity_type: string; entity_value: string; start_position: number; end_position: number }
  >;
}

const LABEL: Record<string, PiiKind> = { CREDIT_CARD: "credit_card", US_SSN: "ssn" };

/** Per-type counts and the derived scores. */
export interface Score {
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  false_positives: string[];
  false_negatives: string[];
}

function emptyScore(): Score {
  return { tp: 0, fp: 0, fn: 0, precision: 0, recall: 0, false_positives: [], false_negatives: [] };
}

/** UTF-16 offsets -> code point offsets (the dataset counts code points, as Python does). */
function codePointIndex(text: string): (i: number) => number {
  if (!/[\uD800-\uDBFF]/.test(text)) return (i) => i;
  const map = new Int32Array(text.length + 1);
  let cp = 0;
  for (let i = 0; i < text.length; i++) {
    map[i] = cp;
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) cp++;
  }
  map[text.length] = cp;
  return (i) => map[i];
}

/** Scores the detectors on `samples`. */
export function evaluate(samples: Sample[]): Record<PiiKind, Score> {
  const scores: Record<PiiKind, Score> = { credit_card: emptyScore(), ssn: emptyScore() };
  for (const sample of samples) {
    const text = sample.full_text;
    const toCp = codePointIndex(text);
    const gold = sample.spans.filter((s) => LABEL[s.entity_type] !== undefined);
    const found = scanPii(text).spans.map((s) => ({
      ...s,
      start: toCp(s.start),
      end: toCp(s.end),
    }));
    const hit = new Set<number>();
    for (const f of found) {
      const g = gold.findIndex((s) =>
        LABEL[s.entity_type] === f.kind && f.start < s.end_position && s.start_position < f.end
      );
      if (g >= 0) {
        scores[f.kind].tp++;
        hit.add(g);
      } else {
        scores[f.kind].fp++;
        scores[f.kind].false_positives.push([...text].slice(f.start, f.end).join(""));
      }
    }
    gold.forEach((s, i) => {
      if (hit.has(i)) return;
      const kind = LABEL[s.entity_type];
      scores[kind].fn++;
      scores[kind].false_negatives.push(s.entity_value);
    });
  }
  for (const s of Object.values(scores)) {
    s.precision = s.tp + s.fp === 0 ? 1 : round(s.tp / (s.tp + s.fp));
    s.recall = s.tp + s.fn === 0 ? 1 : round(s.tp / (s.tp + s.fn));
  }
  return scores;
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(`Usage: deno run --allow-read scripts/bench/pii_eval.ts [DATASET]
Precision and recall of the card and SSN detectors on the Presidio synthetic set (DATASET,
default ${DEFAULT_DATASET}). Prints JSON.`);
    Deno.exit(0);
  }
  const path = Deno.args[0] ?? DEFAULT_DATASET;
  const samples = JSON.parse(await Deno.readTextFile(path)) as Sample[];
  const started = performance.now();
  const scores = evaluate(samples);
  console.log(JSON.stringify(
    {
      dataset: path,
      samples: samples.length,
      credit_card: scores.credit_card,
      ssn: scores.ssn,
      targets: { credit_card: { precision: 1, recall: 0.99 }, ssn: { precision: 1, recall: 1 } },
      met: scores.credit_card.precision >= 1 && scores.credit_card.recall >= 0.99 &&
        scores.ssn.precision >= 1 && scores.ssn.recall >= 1,
      elapsed_ms: Math.round(performance.now() - started),
    },
    null,
    2,
  ));
}
