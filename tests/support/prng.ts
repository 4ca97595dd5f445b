/**
 * A small seeded generator (mulberry32) for tests that generate their cases: every run sees the
 * same inputs, so a failure names a reproducible case.
 * @module
 */

/** A generator seeded with `seed`: `next()` in [0, 1), `int(n)` in [0, n), `pick(xs)`. */
export function seeded(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}

/** What {@linkcode seeded} returns. */
export type Rng = ReturnType<typeof seeded>;
