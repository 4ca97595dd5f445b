/**
 * The value forms every setting shares: durations (`500ms`, `30s`, `5m`, `1h`, `7d`, a bare `0`)
 * and sizes (`65536`, `64KiB`, `1MiB`, `10MB`), parsed and written back the same way.
 * @module
 */

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
/** What a duration setting accepts, in error messages and docs. */
export const DURATION_FORMS = "a duration such as 500ms, 30s, 5m, 1h or 7d";
/** The examples {@linkcode DURATION_FORMS} gives, with their milliseconds. */
const DURATION_EXAMPLES: ReadonlyArray<readonly [string, number]> = [
  ["500ms", 500],
  ["30s", 30_000],
  ["5m", 300_000],
  ["1h", 3_600_000],
  ["7d", 604_800_000],
];

/**
 * {@linkcode DURATION_FORMS} for a setting bounded to `min`..`max` ms: only the examples the
 * setting accepts (its least value when none is).
 * @example
 * ```ts
 * durationForms(1000, 86_400_000); // "a duration such as 30s, 5m or 1h"
 * ```
 */
export function durationForms(min = 0, max = Infinity): string {
  const fit = DURATION_EXAMPLES.filter(([, ms]) => ms >= min && ms <= max).map(([text]) => text);
  if (fit.length === 0) return `a duration such as ${formatDuration(min)}`;
  const last = fit.pop();
  return `a duration such as ${fit.length > 0 ? `${fit.join(", ")} or ` : ""}${last}`;
}
const DURATION_UNIT: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Parses `500ms`, `30s`, `5m`, `1h`, `7d` (and a bare `0`) to milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  if (text.trim() === "0") return 0;
  const m = DURATION.exec(text.trim());
  return m ? Math.round(Number(m[1]) * DURATION_UNIT[m[2]]) : undefined;
}

/**
 * Milliseconds written the way {@linkcode parseDuration} reads them, in the largest whole unit.
 * @example
 * ```ts
 * formatDuration(90_000); // "90s"
 * formatDuration(3_600_000); // "1h"
 * ```
 */
export function formatDuration(ms: number): string {
  for (const unit of ["h", "m", "s"] as const) {
    const n = DURATION_UNIT[unit];
    if (ms !== 0 && ms % n === 0) return `${ms / n}${unit}`;
  }
  return ms === 0 ? "0s" : `${ms}ms`;
}

const BYTES = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i;
const BYTE_UNIT: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/**
 * Bytes written the way sizes are read back, in the largest binary unit that divides them.
 * @example
 * ```ts
 * formatBytes(1_048_576); // "1MiB"
 * formatBytes(1000); // "1000"
 * ```
 */
export function formatBytes(n: number): string {
  for (const unit of ["GiB", "MiB", "KiB"] as const) {
    const size = BYTE_UNIT[unit.toLowerCase()];
    if (n !== 0 && n % size === 0) return `${n / size}${unit}`;
  }
  return String(n);
}

/**
 * Parses `1048576`, `64KiB`, `1MiB`, `10MB` to bytes; undefined when malformed.
 * @example
 * ```ts
 * parseBytes("64KiB"); // 65536
 * ```
 */
export function parseBytes(text: string): number | undefined {
  const m = BYTES.exec(text.trim());
  return m ? Number(m[1]) * BYTE_UNIT[(m[2] ?? "b").toLowerCase()] : undefined;
}
