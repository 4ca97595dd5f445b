/**
 * Timers for a service's long-lived schedule (deadline sweeps, heartbeats, retention runs) that
 * do not load Deno's Node layer: the global `setTimeout` and `setInterval` are Node's, and the
 * first one brings about 2-3 MB of polyfills into an otherwise idle process. Every timer waits on
 * one queue ordered by due time; a single `Atomics.waitAsync` with a timeout (V8's own wait, which
 * Deno wakes from its event loop) sleeps until the earliest one is due and is woken early when an
 * earlier timer arrives. Such a wait does not keep the process running, and neither does any
 * timer here: use them where a listener or a connection does (a service), and `sleep` or
 * `setTimeout` where the wait itself must hold the process open.
 * @module
 */

/** A timer on the queue; {@linkcode Timer.cancel} takes it off. */
export interface Timer {
  /** Takes the timer off the queue: its callback does not run again (idempotent). */
  cancel(): void;
}

/** Most timers waiting at once: a bound on the queue (far above what a service arms). */
export const MAX_TIMERS = 65_536;

/**
 * Longest wait, about 24.8 days (2^31 - 1 ms, as for web timers): a longer or infinite delay
 * waits this long, never less (web and Node timers run such a delay at once instead).
 */
export const MAX_DELAY_MS = 2 ** 31 - 1;

/** A waiting timer: due at `at` (performance.now() milliseconds), ties broken by `seq`. */
interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  /** Repeats every this many milliseconds; 0 for a one-shot timer. */
  every: number;
  /** Whether it is on the queue (cancelled timers leave it at once). */
  queued: boolean;
  /** Cancelled: it never runs again, even when already taken off the queue as due. */
  cancelled: boolean;
  /** Its index in the heap while queued. */
  index: number;
}

/** The queue: a binary min-heap by (at, seq). */
const heap: Entry[] = [];
let nextSeq = 0;
/** The shared cell the driving wait sleeps on; a notify on it ends the wait early. */
const cell = new Int32Array(new SharedArrayBuffer(4));
/** The due time the current wait ends at (Infinity: no wait armed). */
let armedAt = Infinity;
/** Counts waits, so a wait ended by a notify cannot act for the one that replaced it. */
let generation = 0;

/**
 * Runs `fn` once, `ms` milliseconds from now (never earlier; see {@linkcode delayOf}), unless
 * cancelled first. Timers due at the same time run in the order they were armed.
 * @throws {RangeError} when {@linkcode MAX_TIMERS} are already waiting
 * @example
 * ```ts
 * const t = after(5_000, () => log.warn("no answer in 5 s"));
 * t.cancel();
 * ```
 */
export function after(ms: number, fn: () => void): Timer {
  return arm(ms, fn, 0);
}

/**
 * Runs `fn` every `ms` milliseconds (at least 1) until cancelled; each run is due `ms` after the
 * previous one was due, or `ms` after the previous one ran when the process fell behind (no burst
 * of catch-up runs).
 * @throws {RangeError} when {@linkcode MAX_TIMERS} are already waiting
 * @example
 * ```ts
 * const sweeper = every(250, () => sweep());
 * sweeper.cancel();
 * ```
 */
export function every(ms: number, fn: () => void): Timer {
  const period = Math.max(1, delayOf(ms));
  return arm(period, fn, period);
}

/** How many timers are waiting (for tests and metrics). */
export function pendingTimers(): number {
  return heap.length;
}

/**
 * A delay in milliseconds: 0 for a negative or NaN one, at most {@linkcode MAX_DELAY_MS}.
 * @example
 * ```ts
 * delayOf(Infinity); // MAX_DELAY_MS
 * ```
 */
export function delayOf(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_DELAY_MS) : 0;
}

function arm(ms: number, fn: () => void, period: number): Timer {
  if (heap.length >= MAX_TIMERS) {
    throw new RangeError(`too many timers waiting (at most ${MAX_TIMERS})`);
  }
  const entry: Entry = {
    at: performance.now() + delayOf(ms),
    seq: nextSeq++,
    fn,
    every: period,
    queued: false,
    cancelled: false,
    index: -1,
  };
  push(entry);
  schedule();
  return {
    cancel: () => {
      entry.cancelled = true;
      if (entry.queued) remove(entry);
    },
  };
}

/** Makes the driving wait end when the earliest timer is due. */
function schedule(): void {
  const first = heap[0];
  if (!first) return;
  if (first.at >= armedAt) return; // the armed wait ends first: it reschedules then
  if (armedAt !== Infinity) Atomics.notify(cell, 0); // end the later wait now
  const gen = ++generation;
  armedAt = first.at;
  // At least a millisecond: a timeout of 0 does not wait at all, and the queue is
  // checked against the clock when the wait ends (a wait that ends early waits again).
  const wait = Atomics.waitAsync(cell, 0, 0, Math.max(1, first.at - performance.now()));
  if (wait.async) wait.value.then(() => woke(gen));
  else queueMicrotask(() => woke(gen));
}

/** The wait of generation `gen` ended: run what is due and wait for the next one. */
function woke(gen: number): void {
  if (gen !== generation) return; // replaced by an earlier wait
  armedAt = Infinity;
  const now = performance.now();
  const due: Entry[] = [];
  while (heap.length > 0 && heap[0].at <= now) due.push(pop());
  // Repeating timers go back before any callback runs, so a callback may cancel any of them.
  for (const e of due) {
    if (e.every > 0) {
      const next = e.at + e.every;
      e.at = next > now ? next : now + e.every;
      e.seq = nextSeq++;
      push(e);
    }
  }
  schedule();
  for (const e of due) {
    if (e.cancelled) continue; // by a callback that ran before it in this batch
    try {
      e.fn();
    } catch (err) {
      // As a throwing setTimeout callback does: an uncaught error of the process.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function place(e: Entry, i: number): void {
  heap[i] = e;
  e.index = i;
}

function push(e: Entry): void {
  e.queued = true;
  place(e, heap.length);
  up(e.index);
}

function pop(): Entry {
  const top = heap[0];
  remove(top);
  return top;
}

function remove(e: Entry): void {
  const i = e.index;
  const last = heap.pop()!;
  e.queued = false;
  e.index = -1;
  if (last === e) return;
  place(last, i);
  up(i);
  down(last.index);
}

function up(i: number): void {
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!less(heap[i], heap[parent])) return;
    const p = heap[parent];
    place(heap[i], parent);
    place(p, i);
    i = parent;
  }
}

function down(i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let min = i;
    if (l < heap.length && less(heap[l], heap[min])) min = l;
    if (r < heap.length && less(heap[r], heap[min])) min = r;
    if (min === i) return;
    const m = heap[min];
    place(heap[i], min);
    place(m, i);
    i = min;
  }
}
